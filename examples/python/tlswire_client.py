#!/usr/bin/env python3
"""A TLS client through tlswire's C ABI with ctypes: connect, write, wait, read.

It stands in for a Julia `ccall` binding: the same calls, the same conventions (1 = success,
0 = failure with a code and message on the connection, a pollfd for the host's event loop).

    TLSWIRE_LIB=target/release/libtlswire_ffi.so \
        python3 examples/python/tlswire_client.py --host 127.0.0.1 --port 4433 --ca ca.crt

The library is found through $TLSWIRE_LIB, else as libtlswire_ffi.so on the loader's path.
"""

import argparse
import ctypes
import os
import sys

ABI_VERSION = 1  # TLSWIRE_ABI_VERSION in tlswire.h
TLSWIRE_ERROR_TIMEOUT = 14


class TlswireError(Exception):
    """A failed tlswire call, with the library's stable code and its message."""

    def __init__(self, code, message):
        super().__init__(f"tlswire error {code}: {message}")
        self.code = code


def load(path=None):
    lib = ctypes.CDLL(path or os.environ.get("TLSWIRE_LIB", "libtlswire_ffi.so"))
    p, c_int, size_t = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    signatures = {
        "tlswire_init": (c_int, []),
        "tlswire_abi_version": (ctypes.c_uint32, []),
        "tlswire_version": (ctypes.c_char_p, []),
        "tlswire_last_error_code": (c_int, []),
        "tlswire_last_error_message": (ctypes.c_char_p, []),
        "tlswire_client_config_new": (c_int, [ctypes.POINTER(p)]),
        "tlswire_client_config_trust_pem_file": (c_int, [p, ctypes.c_char_p]),
        "tlswire_client_config_trust_os": (c_int, [p]),
        "tlswire_client_config_free": (None, [p]),
        "tlswire_connect": (c_int, [p, ctypes.c_char_p, ctypes.c_uint16, ctypes.POINTER(p)]),
        "tlswire_write": (c_int, [p, ctypes.c_char_p, size_t, ctypes.POINTER(size_t)]),
        "tlswire_read": (c_int, [p, ctypes.c_char_p, size_t, ctypes.POINTER(size_t)]),
        "tlswire_wait": (c_int, [p, c_int]),
        "tlswire_isopen": (c_int, [p]),
        "tlswire_pollfd": (c_int, [p, ctypes.POINTER(c_int)]),
        "tlswire_close": (c_int, [p]),
        "tlswire_error_code": (c_int, [p]),
        "tlswire_error_message": (ctypes.c_char_p, [p]),
        "tlswire_conn_free": (None, [p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    if lib.tlswire_abi_version() != ABI_VERSION:
        raise RuntimeError(
            f"libtlswire ABI {lib.tlswire_abi_version()} does not match this binding's {ABI_VERSION}"
        )
    lib.tlswire_init()
    return lib


class Connection:
    """One TLS connection; only `wait` blocks."""

    def __init__(self, lib, host, port, ca=None):
        self.lib = lib
        self.config = ctypes.c_void_p()
        self.conn = ctypes.c_void_p()
        self._check_global(lib.tlswire_client_config_new(ctypes.byref(self.config)))
        if ca:
            self._check_global(lib.tlswire_client_config_trust_pem_file(self.config, ca.encode()))
        else:
            self._check_global(lib.tlswire_client_config_trust_os(self.config))
        self._check_global(
            lib.tlswire_connect(self.config, host.encode(), port, ctypes.byref(self.conn))
        )

    def _check_global(self, ok):
        if not ok:
            raise TlswireError(
                self.lib.tlswire_last_error_code(), self.lib.tlswire_last_error_message().decode()
            )

    def _check(self, ok):
        if not ok:
            raise TlswireError(
                self.lib.tlswire_error_code(self.conn),
                self.lib.tlswire_error_message(self.conn).decode(),
            )

    def write(self, data):
        """Writes all of `data`, waiting when the connection pushes back."""
        sent = 0
        while sent < len(data):
            n = ctypes.c_size_t()
            chunk = data[sent:]
            self._check(self.lib.tlswire_write(self.conn, chunk, len(chunk), ctypes.byref(n)))
            sent += n.value
            if n.value == 0:
                self.wait(1000)

    def read(self, size=65536):
        """Returns what has arrived (b"" when nothing has yet; see `is_open` for the end)."""
        buf = ctypes.create_string_buffer(size)
        n = ctypes.c_size_t()
        self._check(self.lib.tlswire_read(self.conn, buf, size, ctypes.byref(n)))
        return buf.raw[: n.value]

    def wait(self, timeout_ms):
        """Blocks until there is something to read or the state changes; False on timeout."""
        if self.lib.tlswire_wait(self.conn, timeout_ms):
            return True
        if self.lib.tlswire_error_code(self.conn) == TLSWIRE_ERROR_TIMEOUT:
            return False
        self._check(0)

    def fileno(self):
        """The fd to register with an event loop (asyncio's add_reader, selectors)."""
        fd = ctypes.c_int()
        self._check(self.lib.tlswire_pollfd(self.conn, ctypes.byref(fd)))
        return fd.value

    def is_open(self):
        return bool(self.lib.tlswire_isopen(self.conn))

    def close(self):
        if self.conn:
            self.lib.tlswire_close(self.conn)
            self.lib.tlswire_conn_free(self.conn)
            self.conn = ctypes.c_void_p()
        if self.config:
            self.lib.tlswire_client_config_free(self.config)
            self.config = ctypes.c_void_p()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", help="PEM file of trusted CAs (default: the OS trust store)")
    parser.add_argument("--message", default="hello")
    parser.add_argument("--timeout-ms", type=int, default=10000)
    args = parser.parse_args()

    lib = load()
    print(f"tlswire {lib.tlswire_version().decode()}")
    conn = Connection(lib, args.host, args.port, args.ca)
    try:
        conn.write((args.message + "\n").encode())
        received = b""
        # Bounded: at most 100 waits of at most timeout_ms / 100 each.
        for _ in range(100):
            if b"\n" in received or not conn.is_open():
                break
            conn.wait(max(1, args.timeout_ms // 100))
            received += conn.read()
        print(f"received: {received.decode(errors='replace').rstrip()}")
        if b"\n" not in received:
            sys.exit("no reply line before the timeout")
    finally:
        conn.close()


if __name__ == "__main__":
    main()
