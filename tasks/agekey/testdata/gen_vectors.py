#!/usr/bin/env python3
"""Writes vectors.txt: independent expected ssh-to-age conversions.

The public half uses libsodium's crypto_sign_ed25519_pk_to_curve25519, the
private half SHA-512 of the seed (ssh-to-age does not clamp), and bech32 is
the BIP 173 reference algorithm, so no code is shared with the Go package.
Run from this directory: python3 gen_vectors.py > vectors.txt
"""
import ctypes, hashlib, sys
from cryptography.hazmat.primitives import serialization

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

def polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk

def hrp_expand(hrp):
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]

def convertbits(data, frombits, tobits):
    acc, bits, ret, maxv = 0, 0, [], (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits:
        ret.append((acc << (tobits - bits)) & maxv)
    return ret

def bech32(hrp, data):
    d = convertbits(data, 8, 5)
    pm = polymod(hrp_expand(hrp) + d + [0] * 6) ^ 1
    chk = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[x] for x in d + chk)

sodium = ctypes.CDLL("libsodium.so.23")
assert sodium.sodium_init() >= 0
for name in sys.argv[1:] or ["ed25519_1", "ed25519_2", "ed25519_3"]:
    key = serialization.load_ssh_private_key(open(name, "rb").read(), password=None)
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    out = ctypes.create_string_buffer(32)
    assert sodium.crypto_sign_ed25519_pk_to_curve25519(out, pub) == 0
    sk = hashlib.sha512(seed).digest()[:32]
    print(name, bech32("age", out.raw), bech32("age-secret-key-", sk).upper())
