def pytest_configure(config):
    config.addinivalue_line("markers", "mqtt: needs a Mosquitto broker (the machine's or one the test starts)")
