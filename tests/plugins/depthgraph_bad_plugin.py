"""A broken plugin: load_blocks() returns something that is not a block class."""


def load_blocks():
    return [object]
