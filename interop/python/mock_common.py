"""What the Telethon interop scripts share: the failure type, the mock's ready line, and
registering the mock's RSA key with Telethon (checked against the announced fingerprint)."""

import json

from telethon.crypto import rsa as telethon_rsa


class StepFailed(Exception):
    def __init__(self, step, message):
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


def read_ready(path):
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.strip().startswith("{")]
    for line in reversed(lines):
        obj = json.loads(line)
        if obj.get("event") == "ready":
            return obj
    raise StepFailed("read ready line", f'no {{"event":"ready"}} line in {path}')


def install_rsa_key(ready):
    """Registers the mock's key; Telethon picks the key whose fingerprint resPQ lists."""
    pem = ready["rsa"]["public_key_pem"]
    announced = int(ready["rsa"]["fingerprint"])
    telethon_rsa.add_key(pem, old=False)
    computed = telethon_rsa._compute_fingerprint(telethon_rsa.rsa.PublicKey.load_pkcs1(pem))
    if computed != announced:
        raise StepFailed("install RSA key",
                         f"ready line fingerprint {announced} does not match the key's "
                         f"fingerprint {computed}")
    return announced
