# %% [markdown]
# # Troubleshooting a pipeline that hits bad data
#
# A pipeline reads a file of orders, and some lines in it are bad. We will
#
# 1. watch the pipeline **fail** on the first bad line,
# 2. run a copy that **skips** bad lines and logs each one, and **page** through its
#    error log,
# 3. **group** the errors to see what kinds of mistakes the file has,
# 4. **fix** the data and **restart** the failed pipeline, which now finishes cleanly.
#
# Everything runs on the embedded engine; the data is generated below.

# %%
%load_ext arroyo_jupyter
%arroyo connect --local

# %% [markdown]
# ## The data
#
# 60 orders as JSON lines. Three kinds of damage, as real exports have: lines cut off
# mid-record, amounts written as text with a decimal comma, and a line of log noise.

# %%
import json
from pathlib import Path

work = Path("troubleshooting_data").resolve()
work.mkdir(exist_ok=True)
orders_path = work / "orders.json"
clean_path = work / "clean_orders.json"
clean_path.unlink(missing_ok=True)


def order(i: int) -> dict:
    return {"order_id": i, "customer": f"customer_{i % 4}", "amount": round(10 + i * 0.75, 2)}


lines = []
for i in range(60):
    if i % 10 == 3:
        lines.append(json.dumps(order(i))[:25])  # cut off
    elif i % 10 == 7:
        lines.append(json.dumps({**order(i), "amount": f"{order(i)['amount']:.2f}".replace(".", ",")}))
    elif i == 50:
        lines.append("WARN exporter: retrying batch 17")
    else:
        lines.append(json.dumps(order(i)))
orders_path.write_text("\n".join(lines) + "\n")
print(f"wrote {len(lines)} lines to {orders_path}")
print("\n".join(lines[:8]))

# %% [markdown]
# ## 1. The pipeline fails
#
# It copies the orders into `clean_orders.json`. With the default `bad_data = 'fail'`,
# the first bad line stops it: the job ends **Failed** and says why.

# %%
%%arroyo create --name copy_orders --if-exists replace
CREATE TABLE orders (order_id BIGINT, customer TEXT, amount DOUBLE) WITH (
  connector = 'single_file', path = '{{ orders_path }}', format = 'json', type = 'source'
);
CREATE TABLE clean_orders WITH (
  connector = 'single_file', path = '{{ clean_path }}', format = 'json', type = 'sink'
);
INSERT INTO clean_orders SELECT order_id, customer, amount FROM orders;

# %%
failed = %arroyo wait copy_orders --state Failed --timeout 60
reason = failed.failure_reason
print(f"{failed.state}: {getattr(reason, 'error', reason)}")

# %%
%arroyo errors copy_orders

# %% [markdown]
# ## 2. See every bad line at once
#
# One error at a time is a slow way to clean a file. A copy of the pipeline with
# `bad_data = 'drop'` skips each bad line and logs it instead, so one run finds them all.

# %%
%%arroyo create --name scan_orders --if-exists replace
CREATE TABLE orders (order_id BIGINT, customer TEXT, amount DOUBLE) WITH (
  connector = 'single_file', path = '{{ orders_path }}', format = 'json', type = 'source',
  bad_data = 'drop'
);
CREATE TABLE sink WITH (connector = 'blackhole');
INSERT INTO sink SELECT * FROM orders;

# %% [markdown]
# The errors widget pages through the job's log ten at a time (*Next* / *Previous*
# fetch pages from the server as you go).

# %%
from arroyo_jupyter.session import resolve
from arroyo_jupyter.widgets import ErrorsWidget

scan = resolve("scan_orders")
scan.wait_for("Finished", timeout=60)
ErrorsWidget(scan, page_size=10)

# %% [markdown]
# The same pages in Python: Arroyo's error API is cursor-paginated (`limit`,
# `starting_after`, `has_more`).

# %%
first_page = scan.errors(limit=10)
print(f"first page: {len(first_page.data)} errors, more after it: {first_page.has_more}")
for message in first_page.data[:3]:
    print(" -", message.message)

# %% [markdown]
# ## 3. Group them
#
# `%arroyo errors NAME --all` fetches every page into one DataFrame (messages shown
# whole). `frames.error_groups_frame` groups it by operator and *normalised* message:
# numbers and ids are masked (`line 14` and `line 27` both read `line N`), so each kind
# of damage is one row, with its count, first and last time seen and the latest example.
# The errors widget's *Group* button shows the same table.

# %%
from arroyo_jupyter import frames

all_errors = %arroyo errors scan_orders --all
print(f"{len(all_errors)} errors")
all_errors.head()

# %%
grouped = frames.error_groups_frame(all_errors)
grouped[["pattern", "count", "first_seen", "last_seen", "example"]]

# %% [markdown]
# ## 4. Fix the data, restart the pipeline
#
# The fixes follow the groups: amounts with a decimal comma become numbers, log noise
# goes, and the cut-off lines are re-exported in full (in real life: from the source
# system; here we can regenerate them).

# %%
fixed = []
for i, line in enumerate(lines):
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        if line.startswith("{"):
            fixed.append(json.dumps(order(i)))  # re-exported cut-off line
        continue  # log noise
    if isinstance(record.get("amount"), str):
        record["amount"] = float(record["amount"].replace(",", "."))
    fixed.append(json.dumps(record))
orders_path.write_text("\n".join(fixed) + "\n")
print(f"{len(fixed)} good orders written back to {orders_path.name}")

# %% [markdown]
# Restart the **failed** pipeline: same name, same SQL, now over good data. It reads
# the whole file and finishes.

# %%
%arroyo restart copy_orders
done = %arroyo wait copy_orders --state Finished --timeout 60
print(done.state)

# %%
import pandas as pd

copied = pd.read_json(clean_path, lines=True)
print(f"{len(copied)} orders copied, {copied['amount'].isna().sum()} without an amount")
copied.groupby("customer")["amount"].agg(["count", "sum"])

# %% [markdown]
# ## Clean up

# %% tags=cleanup
%arroyo delete copy_orders --stop
%arroyo delete scan_orders --stop
import shutil

shutil.rmtree(work)
