"""moto server (S3 + DynamoDB) that handles one request at a time.

moto evaluates a conditional write -- S3 `If-Match` / `If-None-Match`, a DynamoDB
`ConditionExpression` -- and then performs it as two separate steps, and its stock
server runs requests on many threads. Two writers holding the same ETag can therefore
both "win" on moto, which real S3 and DynamoDB never allow. Running requests one at a
time restores the atomicity the services guarantee, so the concurrency tests test our
code and not moto's threading. (moto holds the GIL for nearly all of a request anyway,
so this costs little throughput.)

    python moto_serial.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_one_at_a_time = threading.Lock()
_moto = DomainDispatcherApplication(create_backend_app)


def serial_app(environ, start_response):
    with _one_at_a_time:
        # Materialise the response inside the lock: a lazily produced body would
        # otherwise run after another request had started.
        return list(_moto(environ, start_response))


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serial_app, threaded=True)
