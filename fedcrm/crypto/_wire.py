"""A tiny, strict binary framing for crypto messages (private).

Every record starts with a 4-byte magic and a version byte, followed by fields in a fixed
order: unsigned integers as big-endian u64, text as UTF-8 and byte strings with a u32 length
prefix, big integers as length-prefixed big-endian bytes, and arrays of equal-width big
integers as ``u32 count, u32 width, count·width bytes``. The reader checks every length
against what is left and against a per-field maximum, rejects trailing bytes, and raises
:class:`CryptoError` naming the record; nothing is allocated from an unchecked length.
"""

from __future__ import annotations

import struct

from fedcrm.errors import ConfigError, CryptoError

VERSION = 1
MAX_TEXT_BYTES = 256
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def check_identifier(value: object, what: str) -> str:
    """``value`` if it is a non-empty string of at most :data:`MAX_TEXT_BYTES` UTF-8 bytes, the
    most a reader accepts (a longer one would be signed and sent, then refused by everyone)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be a non-empty string, got {value!r}")
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ConfigError(f"{what} is {size} bytes in UTF-8; at most {MAX_TEXT_BYTES} travel "
                          "in a message")
    return value


def int_width(value: int) -> int:
    """Bytes needed to hold ``value`` big-endian (at least one)."""
    return max(1, (int(value).bit_length() + 7) // 8)


class Writer:
    """Append fields to a record; :meth:`getvalue` returns the bytes."""

    def __init__(self, magic: bytes, version: int = VERSION) -> None:
        self._parts: list[bytes] = [magic, bytes([version])]

    def u64(self, value: int) -> Writer:
        self._parts.append(_U64.pack(value))
        return self

    def blob(self, value: bytes) -> Writer:
        self._parts.append(_U32.pack(len(value)))
        self._parts.append(value)
        return self

    def text(self, value: str) -> Writer:
        return self.blob(value.encode("utf-8"))

    def big_int(self, value: int) -> Writer:
        if value < 0:
            raise CryptoError("only non-negative integers can be serialised")
        return self.blob(int(value).to_bytes(int_width(value), "big"))

    def int_array(self, values: list[int] | tuple[int, ...], width: int) -> Writer:
        self._parts.append(_U32.pack(len(values)))
        self._parts.append(_U32.pack(width))
        self._parts.extend(int(value).to_bytes(width, "big") for value in values)
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Read the fields of one record written by :class:`Writer`, validating as it goes."""

    def __init__(self, data: bytes, magic: bytes, record: str, version: int = VERSION) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise CryptoError(f"malformed {record}: expected bytes, got {type(data).__name__}")
        self._data = memoryview(bytes(data))
        self._record = record
        self._offset = 0
        if self._take(len(magic)).tobytes() != magic:
            raise CryptoError(f"malformed {record}: wrong magic bytes (not a {record})")
        found = self._take(1)[0]
        if 1 <= found < version:
            raise CryptoError(
                f"malformed {record}: version {found} comes from an older fedcrm (this one "
                f"reads version {version}); the sender must upgrade fedcrm"
            )
        if found != version:
            raise CryptoError(
                f"malformed {record}: unsupported version {found} (this fedcrm reads version "
                f"{version}; a newer fedcrm, or not a {record})"
            )

    def fail(self, reason: str) -> CryptoError:
        return CryptoError(f"malformed {self._record}: {reason}")

    def _take(self, size: int) -> memoryview:
        if size > len(self._data) - self._offset:
            raise self.fail(
                f"truncated at byte {self._offset} ({size} bytes needed, "
                f"{len(self._data) - self._offset} left)"
            )
        chunk = self._data[self._offset : self._offset + size]
        self._offset += size
        return chunk

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def u64(self, maximum: int = (1 << 63) - 1) -> int:
        value = int(_U64.unpack(self._take(8))[0])
        if value > maximum:
            raise self.fail(f"integer field {value} exceeds its maximum {maximum}")
        return value

    def blob(self, maximum: int, *, field: str) -> bytes:
        size = self.u32()
        if size > maximum:
            raise self.fail(f"{field} is {size} bytes, at most {maximum} allowed")
        return self._take(size).tobytes()

    def text(self, *, field: str, maximum: int = MAX_TEXT_BYTES) -> str:
        raw = self.blob(maximum, field=field)
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{field} is not valid UTF-8") from exc
        if not value:
            raise self.fail(f"{field} is empty")
        return value

    def big_int(self, maximum_bytes: int, *, field: str) -> int:
        return int.from_bytes(self.blob(maximum_bytes, field=field), "big")

    def int_array(self, *, field: str, max_count: int, max_width: int) -> tuple[list[int], int]:
        count = self.u32()
        width = self.u32()
        if count > max_count:
            raise self.fail(f"{field} has {count} entries, at most {max_count} allowed")
        if not 1 <= width <= max_width:
            raise self.fail(f"{field} entry width {width} outside [1, {max_width}] bytes")
        raw = self._take(count * width)
        values = [int.from_bytes(raw[k * width : (k + 1) * width], "big") for k in range(count)]
        return values, width

    def done(self) -> None:
        extra = len(self._data) - self._offset
        if extra:
            raise self.fail(f"{extra} unexpected trailing bytes")
