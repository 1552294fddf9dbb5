#!/usr/bin/env node
// tests/unseal.js - open sealed values with node's crypto (OpenSSL), independently
// of seedsec's Mbed TLS: what the sealed-secrets controller does (HybridDecrypt).
//   node unseal.js PRIVATE_KEY.pem < items.json
// items.json: [{"id": ..., "label": "ns/name" | "ns" | "", "data": BASE64}, ...]
// prints {"id": {"value": BASE64-of-plaintext} | {"error": "..."}, ...}
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const key = crypto.createPrivateKey(fs.readFileSync(process.argv[2]));

function unseal(b64, label) {
    const buf = Buffer.from(b64, 'base64');
    // standard alphabet, padded: the same bytes must encode back to the same text
    if (buf.toString('base64') !== b64) throw new Error('not standard padded base64');
    if (buf.length < 2) throw new Error('too short');
    const rsaLen = buf.readUInt16BE(0);
    if (buf.length < 2 + rsaLen + 16) throw new Error('too short for its RSA length');
    const sessionKey = crypto.privateDecrypt({
        key,
        padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from(label, 'utf8'),
    }, buf.subarray(2, 2 + rsaLen));
    if (sessionKey.length !== 32) throw new Error('session key is not 32 bytes');
    const rest = buf.subarray(2 + rsaLen);
    const d = crypto.createDecipheriv('aes-256-gcm', sessionKey, Buffer.alloc(12));
    d.setAuthTag(rest.subarray(rest.length - 16));
    return Buffer.concat([d.update(rest.subarray(0, rest.length - 16)), d.final()]);
}

const items = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = {};
for (const it of items) {
    try {
        out[it.id] = { value: unseal(it.data, it.label).toString('base64'), rsaLen: Buffer.from(it.data, 'base64').readUInt16BE(0) };
    } catch (e) {
        out[it.id] = { error: String(e.message || e) };
    }
}
process.stdout.write(JSON.stringify(out) + '\n');
