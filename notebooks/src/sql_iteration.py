# %% [markdown]
# # Iterating on streaming SQL
#
# The loop for writing a query: **validate** it (mistakes come back with a caret under
# the column), **preview** it on live data, switch to an **updating aggregate** and read
# its changelog, keep rows in **pandas**, then **launch** it as a pipeline.
# Everything runs on the embedded engine.

# %%
%load_ext arroyo_jupyter
%arroyo connect --local

# %% [markdown]
# ## 1. Validate — with a mistake
#
# `%%arroyo validate` plans the query without running it. This one has a typo in a
# field name; the error shows the line and a caret under the column. (The cell is
# tagged `raises-exception`: a failed validation fails its cell, as it should, and the
# notebook carries on.)

# %% tags=raises-exception
%%arroyo validate
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '100');
SELECT bid.auction AS auction, bid.prise AS price
FROM nexmark
WHERE bid IS NOT NULL;

# %% [markdown]
# ## 2. Fix it, validate again
#
# A valid query comes back with its dataflow graph: one line per operator.

# %%
%%arroyo validate
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '100');
SELECT bid.auction AS auction, bid.price AS price
FROM nexmark
WHERE bid IS NOT NULL;

# %% [markdown]
# ## 3. Preview it
#
# Only the expensive bids now. `--rows 50 --save expensive` waits for 50 rows, stops
# the preview and keeps them in a DataFrame.

# %%
%%arroyo preview --rows 50 --save expensive
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '200');
SELECT bid.auction AS auction, bid.price AS price, bid.channel AS channel
FROM nexmark
WHERE bid IS NOT NULL AND bid.price > 5000000;

# %%
print(f"{len(expensive)} bids, cheapest {expensive['price'].min()}")
expensive.head()

# %% [markdown]
# ## 4. An updating aggregate: the changelog view
#
# Without a window, `GROUP BY` produces an **updating** result: each new input row
# retracts the old count for its group and emits the new one. Arroyo sends these as
# Debezium-style changes (`op` = `c` create, `u` update, `d` delete). The live table
# applies them by key, so it shows the *current* result; the raw changes are kept too.

# %%
%%arroyo preview --ttl 120
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');
SELECT counter % 5 AS bucket, count(*) AS events
FROM impulse
GROUP BY 1;

# %% [markdown]
# The same query saved to pandas: the rows are the changes, in arrival order.

# %%
%%arroyo preview --rows 40 --save changes
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');
SELECT counter % 5 AS bucket, count(*) AS events
FROM impulse
GROUP BY 1;

# %%
changes.head(10)

# %% [markdown]
# The current result is the last change per bucket. Where the rows carry Debezium's
# `before`/`after`, take `after`; otherwise the row itself is the new value.

# %%
import pandas as pd


def current_result(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The latest value per key from a frame of changes (flat rows or Debezium records)."""
    if "after" in frame.columns:
        latest = [row for row in frame["after"] if isinstance(row, dict)]
        frame = pd.DataFrame(latest)
    return frame.groupby(key).tail(1).sort_values(key).reset_index(drop=True)


result = current_result(changes, "bucket")
result

# %% [markdown]
# ## 5. Launch it
#
# Happy with the query: run it as a pipeline. `--if-exists replace` makes the cell safe
# to re-run.

# %%
%%arroyo create --name bucket_counts --checkpoint-interval 5s --if-exists replace
CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');
SELECT counter % 5 AS bucket, count(*) AS events
FROM impulse
GROUP BY 1;

# %%
running = %arroyo wait bucket_counts --state Running --timeout 60
live = %arroyo output bucket_counts --no-widget --rows 10 --timeout 20
live

# %%
%arroyo pipelines

# %% [markdown]
# ## 6. Clean up

# %% tags=cleanup
%arroyo delete bucket_counts --stop
