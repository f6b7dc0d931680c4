"""Compiled workflows kept between requests, keyed by the definition's hash."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any


def definition_hash(definition: dict[str, Any]) -> str:
    """SHA-256 of a definition's canonical JSON (keys sorted): equal definitions, equal hash."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class WorkflowCache:
    """A bounded LRU of compiled workflows keyed by definition hash (thread-safe)."""

    def __init__(self, size: int, registry: Any = None) -> None:
        self.size = max(0, size)
        self.registry = registry
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_compile(self, definition: dict[str, Any]) -> Any:
        from depthgraph.engine.workflow import Workflow

        key = definition_hash(definition)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
        workflow = Workflow.from_definition(definition, self.registry)
        with self._lock:
            self._items[key] = workflow
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return workflow

    def __len__(self) -> int:
        return len(self._items)
