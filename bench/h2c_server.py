#!/usr/bin/python3
"""A tiny h2c (HTTP/2 over cleartext, prior knowledge) server for the multiplexed-ports check:
GET /slow is answered after SLOW_MS (default 3000), anything else after FAST_MS (default 0). One thread per
connection; the slow answers are sent from timer threads, so a fast stream is answered while a
slow one is pending on the same connection. Usage: h2c_server.py PORT [SLOW_MS [FAST_MS]]; as the client: h2c_server.py client PORT sends
GET /slow (stream 1) and GET /fast (stream 3) on one connection and prints when each answer ends
(ms since the requests), then closes. Needs python3-h2
(Debian: apt-get install python3-h2)."""
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def serve(sock, slow_ms, fast_ms):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    lock = threading.Lock()
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    # Frames go out under the lock, in the order the connection made them.
    def answer(stream_id):
        with lock:
            conn.send_headers(stream_id, [(":status", "200"), ("content-length", "3")])
            conn.send_data(stream_id, b"ok\n", end_stream=True)
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                pass

    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            return
        if not data:
            sock.close()
            return
        with lock:
            events = conn.receive_data(data)
            sock.sendall(conn.data_to_send())
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers).get(b":path", b"/")
                if path.startswith(b"/slow"):
                    threading.Timer(slow_ms / 1000.0, answer, [event.stream_id]).start()
                elif fast_ms > 0:
                    threading.Timer(fast_ms / 1000.0, answer, [event.stream_id]).start()
                else:
                    answer(event.stream_id)


def client(port):
    import time
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    start = time.monotonic()
    for path in ("/slow", "/fast"):
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                      (":authority", "127.0.0.1")], end_stream=True)
    sock.sendall(conn.data_to_send())
    names = {1: "/slow", 3: "/fast"}
    pending = set(names)
    while pending:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.StreamEnded):
                pending.discard(event.stream_id)
                print("%s %d" % (names[event.stream_id], (time.monotonic() - start) * 1000),
                      flush=True)
        sock.sendall(conn.data_to_send())
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()


def main():
    if sys.argv[1] == "client":
        client(int(sys.argv[2]))
        return
    port = int(sys.argv[1])
    slow_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    fast_ms = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("listening", port, flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock, slow_ms, fast_ms), daemon=True).start()


if __name__ == "__main__":
    main()
