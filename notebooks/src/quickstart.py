# %% [markdown]
# # Arroyo in Jupyter — quickstart
#
# Arroyo runs streaming SQL: a query becomes a long-running **pipeline** of operators
# that checkpoints its state as it goes. This notebook walks the whole loop on the
# **embedded engine**, so no cluster is needed:
#
# connect, preview a query and watch rows arrive, launch it as a pipeline, stop it
# with a checkpoint and start it again, read its checkpoints, see what errors look
# like, and clean up.
#
# Run it top to bottom (*Run → Run All Cells*). Every widget also leaves a static
# snapshot, so the saved notebook tells the same story without a kernel.

# %%
%load_ext arroyo_jupyter
%arroyo connect --local

# %% [markdown]
# ## 1. Preview a query
#
# `%%arroyo preview` runs the SQL as a short-lived *preview* job and streams its rows
# into a live table: watch the row count rise. `nexmark` is a built-in source that
# simulates an auction site (people, auctions and **bids**).
#
# Python values go into the SQL with `{{ name }}`. Rows are data, never markup: the
# label below looks like HTML, and the table shows it as plain text.

# %%
label = "<img src=x onerror=window.arroyo_xss=1> bid"
min_price = 0

# %%
%%arroyo preview --ttl 60
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '50');
SELECT '{{ label }}' AS label, bid.auction AS auction, bid.price AS price, bid.channel AS channel
FROM nexmark
WHERE bid IS NOT NULL AND bid.price > {{ min_price }};

# %% [markdown]
# The preview runs for a minute (`--ttl 60`; the server also ends previews after a
# minute); re-running the cell replaces it. To work with the rows in pandas, collect some with `--save`: the cell
# waits for `--rows` rows, stops its preview and binds a DataFrame.

# %%
%%arroyo preview --rows 100 --save bids
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '200');
SELECT bid.auction AS auction, bid.bidder AS bidder, bid.price AS price, bid.channel AS channel
FROM nexmark
WHERE bid IS NOT NULL;

# %%
bids.groupby("channel")["price"].agg(["count", "mean", "max"])

# %% [markdown]
# ## 2. Launch it as a pipeline
#
# A pipeline runs until you stop it. This one counts bids per auction in 2-second
# tumbling windows, with two parallel subtasks and a checkpoint every 2 seconds. The
# widget shows the job's state and Arroyo's action button: *Stop* while it runs,
# *Start* once it is stopped.

# %%
%%arroyo create --name quickstart_auctions --parallelism 2 --checkpoint-interval 2s --if-exists replace
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '100');
SELECT bid.auction AS auction, count(*) AS bids, max(bid.price) AS top_price,
       tumble(interval '2 seconds') AS window
FROM nexmark
WHERE bid IS NOT NULL
GROUP BY 1, 4;

# %%
job = %arroyo wait quickstart_auctions --state Running --timeout 60
job

# %% [markdown]
# ## 3. Stop with a checkpoint, start again
#
# `--mode checkpoint` (the default) takes a final checkpoint before stopping, so the
# pipeline resumes where it left off. First wait for a checkpoint, so there is state
# to keep. The same handle the magics use is available in Python.

# %%
import time

from arroyo_jupyter.session import resolve

auctions = resolve("quickstart_auctions")
deadline = time.monotonic() + 60
while not auctions.checkpoints() and time.monotonic() < deadline:
    time.sleep(0.5)
print(f"{auctions.name}: {len(auctions.checkpoints())} checkpoint(s) so far")

# %%
%arroyo stop quickstart_auctions --mode checkpoint
stopped = %arroyo wait quickstart_auctions --state Stopped --timeout 60
stopped

# %%
%arroyo start quickstart_auctions
restarted = %arroyo wait quickstart_auctions --state Running --timeout 60
restarted

# %% [markdown]
# Running again (note the new `run_id`). Its live output: one row per auction and
# 2-second window, arriving as each window closes.

# %%
%arroyo output quickstart_auctions

# %% [markdown]
# ## 4. Checkpoints
#
# Every checkpoint is an *epoch*: when it started, how long it took, how many bytes of
# state each operator wrote. The stop above added a final checkpoint. The widget lists
# them; choose an epoch to draw its timeline.

# %%
%arroyo checkpoints quickstart_auctions

# %%
from arroyo_jupyter.widgets import CheckpointsWidget, ErrorsWidget

checkpoint_view = CheckpointsWidget(auctions)
checkpoint_view.update()  # fetch now, so the saved snapshot lists the epochs too
checkpoint_view

# %% [markdown]
# One epoch in detail: each operator's subtasks and the phases of their checkpoint.

# %%
last_epoch = max(c.epoch for c in auctions.checkpoints())
%arroyo checkpoints quickstart_auctions --epoch {{ last_epoch }}

# %% [markdown]
# ## 5. Errors
#
# A healthy pipeline has an empty error log:

# %%
%arroyo errors quickstart_auctions

# %% [markdown]
# To see what errors look like, read a small file of orders in which some lines are
# broken. With `bad_data = 'drop'` the source skips each bad line and reports it in the
# job's error log instead of failing the job (see `troubleshooting.ipynb` for the
# whole story). The errors widget pages through the log, five at a time.

# %%
import json
from pathlib import Path

lines = []
for i in range(36):
    if i % 3 == 2:
        lines.append('{"order_id": %d, "amount": ' % i)  # cut off mid-line
    else:
        lines.append(json.dumps({"order_id": i, "amount": round(5 + i * 1.25, 2)}))
orders_path = Path("quickstart_orders.json").resolve()
orders_path.write_text("\n".join(lines) + "\n")
print(f"{len(lines)} lines, {sum(i % 3 == 2 for i in range(36))} of them broken: {orders_path}")

# %%
%%arroyo create --name quickstart_orders --if-exists replace
CREATE TABLE orders (order_id BIGINT, amount DOUBLE) WITH (
  connector = 'single_file', path = '{{ orders_path }}', format = 'json',
  type = 'source', bad_data = 'drop'
);
SELECT count(*) AS orders, sum(amount) AS revenue FROM orders;

# %%
orders = resolve("quickstart_orders")
orders.wait_for("Finished", timeout=60)
order_errors = ErrorsWidget(orders, page_size=5)
order_errors

# %%
all_errors = order_errors.to_pandas(all_pages=True)
print(f"{len(all_errors)} errors in the log, one per broken line")

# %% [markdown]
# ## 6. Clean up
#
# Delete the pipelines (stopping the one still running) and check nothing is left.

# %% tags=cleanup
%arroyo delete quickstart_auctions --stop
%arroyo delete quickstart_orders --stop
orders_path.unlink()
left = %arroyo pipelines
left

# %% tags=account
print("What happened in this quickstart:")
print(f"  * previewed a nexmark query and collected {len(bids)} bids into a DataFrame")
print(f"  * launched quickstart_auctions: {job.state}, then {stopped.state} with a checkpoint, then {restarted.state} again")
print(f"  * it wrote checkpoints up to epoch {last_epoch}")
print(f"  * a file with broken lines: the pipeline finished and logged {len(all_errors)} errors, paged 5 at a time")
print(f"  * cleaned up: {len(left)} pipeline(s) left")
