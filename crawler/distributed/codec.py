"""Requests and items as bytes in Redis, large responses stored once.

An article request carries its Article, and the Article carries the list
answer it was listed in (for the snapshot): 50 requests from one list page
would each hold a copy of the same 30-200 KB answer. So a
:class:`~crawler.items.Fetched` larger than BLOB_MIN is pickled by reference:
its bytes go once to ``<prefix>:blob:<key>`` with a reference count
``<prefix>:blobref:<key>``, and the payload names the blobs it holds on a
first line (``k1,k2\\n`` then the pickle), so the Lua scripts that finish a
payload (a lease acknowledged, an item committed) can release them without
unpickling. A blob whose count reaches zero is deleted.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import redis

from crawler.distributed.redisio import Keys
from crawler.items import Fetched

BLOB_MIN = 2048

#: Release the blobs named on a payload's first line (KEYS[1] = prefix).
RELEASE_LUA = """
local function release(prefix, payload)
  local nl = string.find(payload, "\\n", 1, true)
  if not nl or nl == 1 then return end
  for k in string.gmatch(string.sub(payload, 1, nl - 1), "[^,]+") do
    if redis.call('DECR', prefix .. ':blobref:' .. k) <= 0 then
      redis.call('DEL', prefix .. ':blob:' .. k, prefix .. ':blobref:' .. k)
    end
  end
end
"""


class _Pickler(pickle.Pickler):
    def __init__(self, fh: io.BytesIO, blobs: dict[str, bytes]) -> None:
        super().__init__(fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.blobs = blobs

    def persistent_id(self, obj: Any) -> str | None:
        if type(obj) is Fetched and len(obj.body) >= BLOB_MIN:
            key = obj.key
            if key not in self.blobs:
                self.blobs[key] = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            return key
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh: io.BytesIO, fetch: Any) -> None:
        super().__init__(fh)
        self.fetch = fetch

    def persistent_load(self, pid: Any) -> Any:
        return self.fetch(str(pid))


class Codec:
    """Encode/decode payloads against one Redis (blobs shared by all workers)."""

    def __init__(self, server: redis.Redis, keys: Keys) -> None:
        self.server = server
        self.keys = keys
        # Recently read blobs: one list page is read back by each of its articles.
        self.cache: dict[str, Fetched] = {}

    def dumps(self, obj: Any) -> bytes:
        """The payload of ``obj``; its blobs are stored and referenced once more."""
        fh = io.BytesIO()
        blobs: dict[str, bytes] = {}
        _Pickler(fh, blobs).dump(obj)
        if blobs:
            pipe = self.server.pipeline(transaction=True)
            for key, data in blobs.items():
                pipe.set(self.keys.blob(key), data, nx=True)
                pipe.incr(self.keys.blobref(key))
            pipe.execute()
        return ",".join(blobs).encode() + b"\n" + fh.getvalue()

    def loads(self, payload: bytes) -> Any:
        _, _, data = payload.partition(b"\n")
        return _Unpickler(io.BytesIO(data), self._blob).load()

    def release(self, payload: bytes) -> None:
        """Drop the references of a payload that was never stored (a duplicate)."""
        head = payload.partition(b"\n")[0].decode()
        for key in filter(None, head.split(",")):
            self.server.eval(
                RELEASE_LUA + "release(KEYS[1], ARGV[1])", 1, self.keys.prefix, f"{key}\n"
            )

    def _blob(self, key: str) -> Fetched:
        found = self.cache.get(key)
        if found is None:
            data = self.server.get(self.keys.blob(key))
            if data is None:
                raise LookupError(f"blob {key} is gone from Redis")
            found = pickle.loads(data)
            if len(self.cache) > 64:
                self.cache.clear()
            self.cache[key] = found
        return found
