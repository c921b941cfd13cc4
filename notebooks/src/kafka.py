# %% [markdown]
# # Streaming SQL over your Kafka topics
#
# Point the embedded engine at **your own Kafka** (Apache Kafka, Redpanda, Confluent Cloud,
# MSK …): preview a query over a topic, then launch it as a pipeline that writes back to
# Kafka. Set `KAFKA_BOOTSTRAP_SERVERS` before starting Jupyter, or edit the cell below.
# (The project's tests run this notebook against a throw-away broker.)

# %%
import json
import os
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
orders_topic = f"orders-{uuid.uuid4().hex[:6]}"
big_topic = f"big-orders-{uuid.uuid4().hex[:6]}"
print("Kafka at", bootstrap, "- topics", orders_topic, big_topic)

# %%
%load_ext arroyo_jupyter
%arroyo connect --local

# %% [markdown]
# ## 1. Some orders in a topic
#
# Two new topics (3 partitions for the orders) and 300 JSON orders. With your own data,
# skip this cell and use your topic's name below.

# %%
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic(orders_topic, 3, 1), NewTopic(big_topic, 1, 1)]).values():
    future.result(30)
producer = Producer({"bootstrap.servers": bootstrap})
for i in range(300):
    order = {"order_id": i, "customer": f"c{i % 5}", "amount": round((i * 37) % 500 + 0.5, 2)}
    producer.produce(orders_topic, json.dumps(order).encode(), key=order["customer"].encode())
producer.flush(30)
print("300 orders produced")

# %% [markdown]
# ## 2. Preview a query over the topic
#
# A `kafka` source table (`'source.offset' = 'earliest'`: from the start of the topic).
# Columns declared `METADATA FROM` come from the message, not its JSON: here the partition
# and the offset. `--rows 20 --save big` keeps 20 rows in a DataFrame and stops the preview.

# %%
%%arroyo preview --rows 20 --save big
CREATE TABLE orders (
    order_id BIGINT,
    customer TEXT,
    amount DOUBLE,
    part INT METADATA FROM 'partition',
    off BIGINT METADATA FROM 'offset_id'
) WITH (
    connector = 'kafka', bootstrap_servers = '{{ bootstrap }}', topic = '{{ orders_topic }}',
    format = 'json', type = 'source', 'source.offset' = 'earliest'
);
SELECT order_id, customer, amount, part, off FROM orders WHERE amount > 400;

# %%
print(f"{len(big)} big orders, smallest {big['amount'].min()}")
big.head()

# %% [markdown]
# ## 3. Launch it: big orders into another topic
#
# The same source, and a `kafka` sink. With checkpoints every 2 s, the source's offsets are
# saved with each checkpoint: stop the pipeline with a checkpoint and start it again, and it
# goes on where it stopped.

# %%
%%arroyo create --name big_orders --checkpoint-interval 2s --if-exists replace
CREATE TABLE orders (order_id BIGINT, customer TEXT, amount DOUBLE) WITH (
    connector = 'kafka', bootstrap_servers = '{{ bootstrap }}', topic = '{{ orders_topic }}',
    format = 'json', type = 'source', 'source.offset' = 'earliest'
);
CREATE TABLE big_orders WITH (
    connector = 'kafka', bootstrap_servers = '{{ bootstrap }}', topic = '{{ big_topic }}',
    format = 'json', type = 'sink', 'sink.key_field' = 'customer'
);
INSERT INTO big_orders SELECT order_id, customer, amount FROM orders WHERE amount > 400;

# %%
%arroyo wait big_orders --state Running --timeout 60

# %% [markdown]
# ## 4. Read what the pipeline wrote
#
# Plain `confluent-kafka`: every big order should be there once.

# %%
expected = sum(1 for i in range(300) if round((i * 37) % 500 + 0.5, 2) > 400)
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "notebook-reader", "enable.auto.commit": False})
consumer.assign([TopicPartition(big_topic, 0, 0)])
written = []
deadline = time.monotonic() + 60
while len(written) < expected and time.monotonic() < deadline:
    written += [json.loads(m.value()) for m in consumer.consume(500, 1.0) if m.error() is None]
consumer.close()
print(f"{len(written)} of {expected} big orders in {big_topic}")

# %%
%arroyo stop big_orders --mode checkpoint
%arroyo wait big_orders --state Stopped --timeout 60
