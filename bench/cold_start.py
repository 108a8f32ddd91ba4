"""Cold start of the Lambda artifacts, measured from outside the process (bench/cold-start.sh).

first-tile: process start -> first 200 of a tile request, the tiler in local mode with an
    empty environment (`env -i` but PORT and the allowlist), reading the reference COGs
    from disk. Each run is a new process in a new empty folder.
init: process start -> the first `GET .../runtime/invocation/next` of the function, under
    cargo-lambda's runtime emulator (`cargo lambda watch --only-lambda-apis`): a loopback
    proxy in front of the emulator notes when the first poll arrives. This is Lambda's
    Init phase as far as the binary decides it.

    python cold_start.py first-tile BIN MOSAIC TILE_PATH ALLOWED RUNS
    python cold_start.py init BIN EMULATOR_HOST:PORT RUNS
Prints one line per binary: median, min and max in ms.
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def copy_alone(binary):
    folder = tempfile.mkdtemp(prefix="cold-")
    target = os.path.join(folder, "bootstrap")
    shutil.copy(binary, target)
    return folder, target


def first_tile(binary, mosaic, tile_path, allowed, runs):
    times = []
    for _ in range(runs):
        folder, target = copy_alone(binary)
        env = {"PORT": "0", "MOSAIC_ALLOWED_URLS": allowed}
        start = time.perf_counter()
        proc = subprocess.Popen([target], cwd=folder, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline()
        base = next(w for w in line.split() if w.startswith("http://")).split("/mosaicjson")[0]
        url = f"{base}{tile_path}?url={os.path.abspath(mosaic)}"
        with urllib.request.urlopen(url) as response:
            response.read()
            assert response.status == 200, response.status
        times.append((time.perf_counter() - start) * 1000)
        proc.kill()
        proc.wait()
        shutil.rmtree(folder)
    return times


def init(binary, emulator, runs):
    host, port = emulator.rsplit(":", 1)
    times = []
    for _ in range(runs):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        first = {}

        def serve():
            # Forwards each connection to the emulator; notes the first byte received.
            while True:
                try:
                    client, _ = listener.accept()
                except OSError:
                    return
                first.setdefault("t", time.perf_counter())
                upstream = socket.create_connection((host, int(port)))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=(a, b), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        folder, target = copy_alone(binary)
        env = {
            "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{listener.getsockname()[1]}/.rt",
            "AWS_LAMBDA_FUNCTION_NAME": "_",
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_REGION": "us-east-1",
            "MOSAIC_URI": "sqlite:///" + os.path.join(folder, "index.db") + ":m",
        }
        start = time.perf_counter()
        proc = subprocess.Popen([target], cwd=folder, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        while "t" not in first and proc.poll() is None and time.perf_counter() - start < 10:
            time.sleep(0.0005)
        if "t" not in first:
            sys.exit(f"{binary}: no runtime poll (exit {proc.poll()})")
        times.append((first["t"] - start) * 1000)
        proc.kill()
        proc.wait()
        listener.close()
        shutil.rmtree(folder)
    return times


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


def main():
    mode, binary = sys.argv[1], sys.argv[2]
    if mode == "first-tile":
        times = first_tile(binary, sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]))
    else:
        times = init(binary, sys.argv[3], int(sys.argv[4]))
    print(f"{statistics.median(times):.1f} {min(times):.1f} {max(times):.1f}")


if __name__ == "__main__":
    main()
