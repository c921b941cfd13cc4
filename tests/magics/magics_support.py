"""Constants shared by the magics tests (a uniquely named module: every test dir has a conftest)."""

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"
