# Creates an Azurite container with SharedKey auth (object_store cannot create containers).
import base64, hmac, hashlib, sys, urllib.request, urllib.error
from email.utils import formatdate
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
name, base = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:10000")
hdrs = {"x-ms-date": formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
sts = "PUT\n" + "\n" * 11 + "".join(f"{k}:{v}\n" for k, v in sorted(hdrs.items())) + f"/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
sig = base64.b64encode(hmac.new(base64.b64decode(KEY), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(f"{base}/{ACCOUNT}/{name}?restype=container", method="PUT",
                             headers={**hdrs, "Authorization": f"SharedKey {ACCOUNT}:{sig}", "Content-Length": "0"})
try:
    urllib.request.urlopen(req).close(); print(f"created container {name}")
except urllib.error.HTTPError as e:
    if e.code != 409: print(f"HTTP {e.code}: {e.read()[:300]!r}"); sys.exit(1)
