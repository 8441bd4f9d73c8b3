#!/usr/bin/env python3
"""PostgreSQL round trips, statements and transactions, counted on the wire.

The approach of tests/postgres/round_trips.rs, for a whole paytree process: a TCP proxy
between paytree and PostgreSQL that counts a round trip each time a connection's client sends
after the server has answered it (statements pipelined together count once), and reads the
frontend protocol to name what each round trip carried (Parse, Bind/Execute of a prepared
statement, a simple Query). Used by benches/replicas.sh; three commands:

  pgwire.py proxy LISTEN UPSTREAM LOG      proxy LISTEN (host:port) to UPSTREAM, logging every
                                           frontend message to LOG (until killed)
  pgwire.py drive BASE KEYFILE WINDOWS KIND N GAP
                                           N requests of KIND (register, register-idem: a new
                                           customer each, named PREFIX0, PREFIX1, ...;
                                           mypage:PREFIX: their mypages) one at a time to BASE
                                           (http://host:port), GAP s apart, the admin key read
                                           from KEYFILE; appends each request's start and end
                                           to WINDOWS, prints "PREFIX NOT_2XX"
  pgwire.py count LOG WINDOWS N [IDLE_WINDOWS]
                                           what the round trips in WINDOWS (a file of "start
                                           end" lines) carried, per one of N requests, less
                                           the rate over IDLE_WINDOWS (what paytree does with
                                           no request) for as long

A "unit" is what PostgreSQL runs as one transaction: BEGIN … COMMIT, else one Sync (a
prepared statement's Bind/Execute/Sync, or the Parse/Describe/Sync that prepares it), else one
simple Query. Each unit is named by its first statement other than BEGIN and SAVEPOINT, and
belongs to the window its first round trip falls in. A Close/Sync of a statement (which
tokio-postgres sends for a statement it prepared for one use, without waiting for the answer)
is counted apart, as "closes", not as a round trip or a transaction. Statements are those
executed (BEGIN, COMMIT and SAVEPOINT included); prepares, the statements parsed.
"""

import asyncio
import http.client
import json
import re
import struct
import sys
import time
from collections import defaultdict

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


# ---------------------------------------------------------------------------------------------
# proxy


class Conn:
    """One proxied connection: its frontend protocol state and round-trip count."""

    def __init__(self, ident, log):
        self.ident = ident
        self.log = log
        self.buf = b""
        self.started = False
        self.answered = True
        self.rt = 0
        self.statements = {}  # prepared statement name -> SQL
        self.portal_sql = ""

    def client_bytes(self, data):
        now = time.time()
        if self.answered:
            self.answered = False
            self.rt += 1
        self.buf += data
        while True:
            if not self.started:
                if len(self.buf) < 8:
                    return
                (length, code) = struct.unpack("!ii", self.buf[:8])
                if len(self.buf) < length:
                    return
                self.buf = self.buf[length:]
                if code not in (SSL_REQUEST, GSSENC_REQUEST):
                    self.started = True
                self.emit(now, "startup", "")
                continue
            if len(self.buf) < 5:
                return
            kind = self.buf[:1]
            (length,) = struct.unpack("!i", self.buf[1:5])
            if len(self.buf) < 1 + length:
                return
            body = self.buf[5 : 1 + length]
            self.buf = self.buf[1 + length :]
            self.message(now, kind, body)

    def message(self, now, kind, body):
        if kind == b"P":
            name, rest = cstring(body)
            sql, _ = cstring(rest)
            self.statements[name] = sql
            self.emit(now, "parse", sql)
        elif kind == b"B":
            _portal, rest = cstring(body)
            name, _ = cstring(rest)
            self.portal_sql = self.statements.get(name, "?")
        elif kind == b"E":
            self.emit(now, "execute", self.portal_sql)
        elif kind == b"Q":
            sql, _ = cstring(body)
            self.emit(now, "query", sql)
        elif kind == b"S":
            self.emit(now, "sync", "")
        elif kind == b"p":
            # Authentication (a password, SASL): part of the connection's start-up.
            self.emit(now, "startup", "")
        elif kind == b"C":
            # Close of a statement: forget its name (it may be reused).
            if body[:1] == b"S":
                name, _ = cstring(body[1:])
                self.emit(now, "close", self.statements.pop(name, "?"))

    def emit(self, now, kind, sql):
        sql = " ".join(sql.split())
        self.log.write(f"{now:.6f}\t{self.ident}\t{self.rt}\t{kind}\t{sql}\n")


def cstring(data):
    end = data.index(b"\0")
    return data[:end].decode("utf-8", "replace"), data[end + 1 :]


async def pipe_client(reader, writer, conn, log):
    try:
        while data := await reader.read(65536):
            conn.client_bytes(data)
            log.flush()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def pipe_server(reader, writer, conn):
    try:
        while data := await reader.read(65536):
            # Marked before the client can see the answer and send again.
            conn.answered = True
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def proxy(listen, upstream, path):
    log = open(path, "a", buffering=1 << 16)
    host, port = upstream.rsplit(":", 1)
    counter = 0

    async def accept(client_reader, client_writer):
        nonlocal counter
        counter += 1
        conn = Conn(counter, log)
        server_reader, server_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(
            pipe_client(client_reader, server_writer, conn, log),
            pipe_server(server_reader, client_writer, conn),
        )

    lhost, lport = listen.rsplit(":", 1)
    server = await asyncio.start_server(accept, lhost, int(lport))
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------------------------------------
# drive


def drive(base, keyfile, windows, kind, n, gap):
    key = open(keyfile).read().strip()
    host = base.removeprefix("http://")
    http_conn = http.client.HTTPConnection(host, timeout=30)
    # Customers of their own: PREFIX0, PREFIX1, ... (printed, for mypage:PREFIX).
    prefix = f"rt{'i' if kind == 'register-idem' else ''}-{int(time.time()) % 100000}-"
    bad = 0
    with open(windows, "a") as out:
        for i in range(n):
            headers = {"Authorization": f"Bearer {key}"}
            if kind.startswith("register"):
                body = json.dumps(
                    {"customerId": f"{prefix}{i}", "kind": "card", "number": "4242424242424242"}
                )
                headers["Content-Type"] = "application/json"
                if kind == "register-idem":
                    headers["Idempotency-Key"] = f"{prefix}{i}"
                request = ("POST", "/paymethods", body)
            elif kind.startswith("mypage:"):
                # mypage:PREFIX reads the customers PREFIX0 .. PREFIX{n-1}
                request = ("GET", f"/mypages/{kind[7:]}{i}", None)
            else:
                raise SystemExit(f"unknown kind {kind}")
            start = time.time()
            http_conn.request(request[0], request[1], body=request[2], headers=headers)
            response = http_conn.getresponse()
            response.read()
            end = time.time()
            if response.status >= 300:
                bad += 1
            out.write(f"{start:.6f} {end:.6f}\n")
            time.sleep(gap)
    print(f"{prefix} {bad}")


# ---------------------------------------------------------------------------------------------
# count


STARTUP = "(connection start-up and authentication)"
# A statement closed (tokio-postgres closes one it prepared once its handle is dropped: sent
# without waiting for the answer, after the server answered the statement's execution).
CLOSE = "(closing a statement)"


def units(path):
    """Every unit in the log: (start time, name, {(connection, round trip)}, statements,
    prepares)."""
    per_conn = defaultdict(list)
    with open(path) as log:
        for line in log:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            t, conn, rt, kind, sql = parts
            per_conn[conn].append((float(t), (conn, int(rt)), kind, sql))
    found = []
    for events in per_conn.values():
        current = None  # [start, name, {round trips}, statements, prepares, in BEGIN … COMMIT]

        def close():
            nonlocal current
            if current is not None:
                name = current[1] or "(nothing)"
                found.append((current[0], name, current[2], current[3], current[4]))
            current = None

        for t, rt, kind, sql in events:
            if kind == "startup":
                if current is None or current[1] != STARTUP:
                    close()
                    current = [t, STARTUP, set(), 0, 0, False]
                current[2].add(rt)
                continue
            if current is not None and current[1] == STARTUP:
                close()
            if current is None:
                current = [t, "", set(), 0, 0, False]
            current[2].add(rt)
            if kind == "parse":
                current[4] += 1
                if not current[1]:
                    current[1] = "prepare: " + sql
            elif kind in ("execute", "query"):
                for statement in [s.strip() for s in sql.split(";") if s.strip()]:
                    current[3] += 1
                    word = statement.split()[0].upper()
                    if word in ("BEGIN", "START"):
                        current[5] = True
                    elif word in ("COMMIT", "ROLLBACK", "END"):
                        current[1] = current[1] or statement
                        current[5] = False
                    elif word in ("SAVEPOINT", "RELEASE"):
                        pass
                    elif not current[1] or current[1].startswith("prepare: "):
                        current[1] = statement
                if kind == "query" and not current[5]:
                    close()
            elif kind == "close" and not current[1]:
                current[1] = CLOSE
            elif kind == "sync" and not current[5]:
                close()
        close()
    return found


def inside(t, windows):
    return any(a <= t < b for a, b in windows)


def read_windows(path):
    with open(path) as f:
        return [tuple(map(float, line.split())) for line in f if line.strip()]


def shorten(name):
    name = re.sub(r"\s+", " ", name)
    return name if len(name) <= 90 else name[:87] + "..."


def tally(all_units, windows):
    """What the units that start in `windows` did: totals, and by unit name [transactions,
    round trips, statements]. A unit that only closes a statement is no transaction, and the
    client does not wait for its answer: its round trip is counted apart (closes)."""
    totals = defaultdict(float)
    names = defaultdict(lambda: [0.0, 0.0, 0.0])
    waited = set()
    for start, name, rts, statements, prepares in all_units:
        if not inside(start, windows):
            continue
        entry = names[shorten(name)]
        if name == CLOSE:
            totals["closes"] += 1
            entry[0] += 1
            continue
        waited |= rts
        totals["statements"] += statements
        totals["prepares"] += prepares
        entry[1] += len(rts)
        entry[2] += statements
        if name != STARTUP:
            totals["transactions"] += 1
            entry[0] += 1
    totals["round trips"] = len(waited)
    return totals, names


def count(log, windows_path, n, idle_path=None):
    windows = read_windows(windows_path)
    length = sum(b - a for a, b in windows)
    all_units = units(log)
    totals, names = tally(all_units, windows)
    idle_rate = 0.0
    if idle_path:
        idle = read_windows(idle_path)
        idle_length = sum(b - a for a, b in idle)
        scale = length / idle_length
        idle_totals, idle_names = tally(all_units, idle)
        idle_rate = idle_totals["round trips"] / idle_length
        for key, value in idle_totals.items():
            totals[key] -= scale * value
        for name, values in idle_names.items():
            names[name] = [a - scale * b for a, b in zip(names[name], values)]
    print(
        "ROUNDTRIPS\t" + "\t".join(
            f"{totals[key] / n:.2f}"
            for key in ("round trips", "statements", "transactions", "prepares", "closes")
        ) + f"\t{length:.2f}\t{idle_rate:.1f}"
    )
    for name, (xacts, rts, statements) in sorted(names.items(), key=lambda kv: -abs(kv[1][1])):
        if max(abs(xacts), abs(rts)) / n >= 0.05:
            print(f"UNIT\t{xacts / n:6.2f}\t{rts / n:6.2f}\t{statements / n:6.2f}\t{name}")


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "proxy" and len(sys.argv) == 5:
        asyncio.run(proxy(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif command == "drive" and len(sys.argv) == 8:
        drive(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), float(sys.argv[7]))
    elif command == "count" and len(sys.argv) in (5, 6):
        count(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) == 6 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
