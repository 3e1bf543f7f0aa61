"""Content fingerprints: the identity of what an asset produced, independent of the run.

Two materializations with equal content get the same fingerprint, so the engine sees
"nothing changed" and plans no downstream run; the IO manager keeps each version under
its fingerprint. pandas DataFrames hash their columns, dtypes and every row (pandas'
own vectorised row hash, fast on millions of rows); bytes and text hash as they are;
anything else hashes its pickle.
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any

__all__ = ["content_fingerprint", "row_count"]


def content_fingerprint(value: Any) -> str:
    """A 32-hex-digit SHA-256 prefix of ``value``'s content."""
    digest = hashlib.sha256()
    frame = _as_frame(value)
    if frame is not None:
        import pandas as pd

        digest.update(b"pandas\0")
        digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
        try:
            digest.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
        except TypeError:  # unhashable cells (lists, dicts): fall back to their pickle
            digest.update(pickle.dumps(frame.to_dict("split"), protocol=4))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        digest.update(b"bytes\0")
        digest.update(bytes(value))
    elif isinstance(value, str):
        digest.update(b"str\0")
        digest.update(value.encode())
    else:
        digest.update(b"pickle\0")
        try:
            digest.update(pickle.dumps(value, protocol=4))
        except Exception:  # noqa: BLE001 - unpicklable: its repr is the best we have
            digest.update(repr(value).encode())
    return digest.hexdigest()[:32]


def row_count(value: Any) -> int | None:
    """Rows of a DataFrame, items of a list; None when the value has no natural count."""
    frame = _as_frame(value)
    if frame is not None:
        return int(len(frame))
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def _as_frame(value: Any) -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency of sutura
        return None
    return value if isinstance(value, pd.DataFrame) else None
