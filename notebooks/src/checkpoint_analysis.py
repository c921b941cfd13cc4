# %% [markdown]
# # Checkpoint analysis: choosing an interval
#
# Checkpoints make a pipeline restartable, but each one costs time and storage. Here
# one **stateful** query (a running count and top price per auction) runs twice, side
# by side, on the embedded engine:
#
# | pipeline | checkpoint interval | parallelism |
# |---|---|---|
# | `cp_fast` | 1 s | 1 |
# | `cp_slow` | 2 s | 2 |
#
# We compare how long their checkpoints take and how big they are, read one epoch's
# timeline, and decide an interval.

# %%
%load_ext arroyo_jupyter
%arroyo connect --local

# %% [markdown]
# ## 1. Launch both pipelines
#
# The query is an *updating* aggregate: its state (one row per auction seen so far)
# grows as it runs, which is what checkpoints have to write.

# %%
%%arroyo create --name cp_fast --parallelism 1 --checkpoint-interval 1s --if-exists replace
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '200');
SELECT bid.auction AS auction, count(*) AS bids, max(bid.price) AS top_price
FROM nexmark
WHERE bid IS NOT NULL
GROUP BY 1;

# %%
%%arroyo create --name cp_slow --parallelism 2 --checkpoint-interval 2s --if-exists replace
CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '200');
SELECT bid.auction AS auction, count(*) AS bids, max(bid.price) AS top_price
FROM nexmark
WHERE bid IS NOT NULL
GROUP BY 1;

# %% [markdown]
# ## 2. Let them checkpoint
#
# Wait until each pipeline has finished at least four checkpoints, then stop both with
# a final checkpoint so their numbers stay put while we read them.

# %%
import time

from arroyo_jupyter.session import resolve

runs = {name: resolve(name) for name in ("cp_fast", "cp_slow")}
for p in runs.values():
    p.wait_for("Running", timeout=60)


def finished_checkpoints(p) -> list:
    return [c for c in p.checkpoints() if c.finish_time]


deadline = time.monotonic() + 90
while time.monotonic() < deadline and min(len(finished_checkpoints(p)) for p in runs.values()) < 4:
    time.sleep(0.5)
for name, p in runs.items():
    print(f"{name}: {len(finished_checkpoints(p))} checkpoints finished")

# %%
%arroyo stop cp_fast
%arroyo stop cp_slow
for p in runs.values():
    p.wait_for("Stopped", timeout=60)
%arroyo pipelines

# %% [markdown]
# ## 3. Durations and sizes, side by side
#
# The checkpoint list gives each epoch's start and finish; its details give the bytes
# each operator subtask wrote.

# %%
import pandas as pd

from arroyo_jupyter import charts, frames


def checkpoint_stats(name: str, p) -> pd.DataFrame:
    table = frames.checkpoints_frame(finished_checkpoints(p))
    table["bytes"] = [sum(g.bytes or 0 for g in p.checkpoint_details(int(e))) for e in table["epoch"]]
    table["pipeline"] = name
    table["interval_s"] = p.checkpoint_interval_micros / 1e6
    table["parallelism"] = max(n.parallelism for n in p.graph.nodes)
    return table


stats = pd.concat([checkpoint_stats(name, p) for name, p in runs.items()], ignore_index=True)
stats["duration_ms"] = stats["duration_micros"].astype("float64") / 1000
stats[["pipeline", "epoch", "checkpoint_type", "duration_ms", "bytes"]]

# %%
summary = stats.groupby(["pipeline", "interval_s", "parallelism"]).agg(
    checkpoints=("epoch", "count"),
    median_ms=("duration_ms", "median"),
    max_ms=("duration_ms", "max"),
    median_bytes=("bytes", "median"),
    last_bytes=("bytes", "last"),
)
summary["share_of_interval"] = summary["median_ms"] / (summary.index.get_level_values("interval_s") * 1000)
summary

# %% [markdown]
# The duration of each checkpoint over time, on an axis scaled to the durations (the
# interval is drawn as a dashed line only when checkpoints come close to it; otherwise
# the axis title says it is off scale), with outliers (above median + 3·MAD) marked:

# %%
%arroyo checkpoints cp_fast

# %%
%arroyo checkpoints cp_slow

# %% [markdown]
# The same history as a figure of our own, with each epoch's state size on a subplot
# below and the last epoch ringed; `checkpoint_hint` says what to change.

# %%
slow = runs["cp_slow"]
slow_sizes = dict(zip(stats.loc[stats["pipeline"] == "cp_slow", "epoch"].astype(int),
                      stats.loc[stats["pipeline"] == "cp_slow", "bytes"]))  # fmt: skip
last_epoch = max(slow_sizes)
charts.checkpoint_history(
    finished_checkpoints(slow), interval_micros=slow.checkpoint_interval_micros,
    sizes=slow_sizes, selected_epoch=last_epoch,
)  # fmt: skip

# %% [markdown]
# ## 4. One epoch's timeline
#
# Take `cp_slow`'s last checkpoint (the final one, taken on stop) and look inside: each
# operator subtask's spans (alignment, sync, async upload) relative to the checkpoint
# start. With parallelism 2 every operator has two subtasks.

# %%
epoch = int(stats.loc[stats["pipeline"] == "cp_slow", "epoch"].max())
%arroyo checkpoints cp_slow --epoch {{ epoch }}

# %%
spans = %arroyo checkpoints cp_slow --epoch {{ epoch }} --no-widget
spans

# %% [markdown]
# ## 5. Decide an interval
#
# A rule of thumb: a checkpoint should take well under a tenth of its interval, and
# the interval bounds how much work is replayed after a failure. So: the shortest
# interval whose median checkpoint stays under 10 % of it.

# %%
budget = 0.10
ok = summary[summary["share_of_interval"] < budget].reset_index()
if ok.empty:
    choice = None
    advice = "checkpoints take over 10 % of both intervals: try a longer interval (e.g. 10s) or less state"
else:
    best = ok.sort_values("interval_s").iloc[0]
    choice = float(best["interval_s"])
    advice = (
        f"use a {choice:g}s interval: its median checkpoint took {best['median_ms']:.1f} ms "
        f"({best['share_of_interval']:.1%} of the interval), writing about {best['median_bytes']:,.0f} bytes"
    )
for name, p in runs.items():
    mine = stats[stats["pipeline"] == name]
    hint = charts.checkpoint_hint(
        finished_checkpoints(p), p.checkpoint_interval_micros,
        sizes=dict(zip(mine["epoch"].astype(int), mine["bytes"])),
        groups=p.checkpoint_details(int(mine["epoch"].max())),
    )  # fmt: skip
    print(f"{name}: {hint}")
print("Decision:", advice)

# %% [markdown]
# ## 6. Clean up

# %% tags=cleanup
%arroyo delete cp_fast --stop
%arroyo delete cp_slow --stop
