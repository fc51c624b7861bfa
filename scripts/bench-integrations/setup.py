# Setup for scripts/bench-integrations/run.sh: python3 setup.py PORT SINK_PORT TOKENS_FILE STAFF_TOKEN with|push|hook
# Subscribes one browser key pair per token to the sink and registers one outgoing hook for all rooms.
import sys, json, base64, os, urllib.request, urllib.error
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
port, sink, tokens_file, staff_token, what = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def post(path, token, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r: return r.status, r.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"{path}: {e.code} {e.read()[:300]!r}")
n = 0
for i, token in enumerate(open(tokens_file).read().split() if what in ("with", "push") else []):
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    post("/api/push/subscriptions", token, {"endpoint": f"http://127.0.0.1:{sink}/push/{i}",
        "keys": {"p256dh": b64(key), "auth": b64(os.urandom(16))}}); n += 1
status, body = (0, b"") if what == "push" else post("/api/hooks/outgoing", staff_token, {"url": f"http://127.0.0.1:{sink}/hook",
    "events": ["message_created", "message_edited", "message_deleted", "member_added", "member_removed"]})
print(f"subscriptions {n}, hook {status} {body[:60]!r}")
