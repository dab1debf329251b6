#!/usr/bin/python3
"""A tiny h2c (HTTP/2 over cleartext, prior knowledge) server for the multiplexed-ports check:
GET /slow is answered after SLOW_MS (default 3000), anything else at once. One thread per
connection; the slow answers are sent from timer threads, so a fast stream is answered while a
slow one is pending on the same connection. Usage: h2c_server.py PORT [SLOW_MS]. Needs python3-h2
(Debian: apt-get install python3-h2)."""
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def serve(sock, slow_ms):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    lock = threading.Lock()
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    def answer(stream_id):
        with lock:
            conn.send_headers(stream_id, [(":status", "200"), ("content-length", "3")])
            conn.send_data(stream_id, b"ok\n", end_stream=True)
            data = conn.data_to_send()
        try:
            sock.sendall(data)
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
            out = conn.data_to_send()
        if out:
            sock.sendall(out)
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers).get(b":path", b"/")
                if path.startswith(b"/slow"):
                    threading.Timer(slow_ms / 1000.0, answer, [event.stream_id]).start()
                else:
                    answer(event.stream_id)


def main():
    port = int(sys.argv[1])
    slow_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    print("listening", port, flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock, slow_ms), daemon=True).start()


if __name__ == "__main__":
    main()
