"""Seeds a small world for the fuzzer and writes its schemathesis config.

Without real ids most operations with path parameters only ever answer
404 and the fuzzer never reaches their rules. So: user A (the fuzzer) and
friend B, a pending request from C, a direct message, a group, a moment with
a comment, an uploaded image favourited as an emoji, a call, a notification,
and each id bound to its path parameter in schemathesis.toml. The ids stay
fixed for the whole run; the fuzzer may delete, leave, block or recall
them, after which the same operations answer their 403/404/409, which the
contract lists too.

Usage: seed.py GATEWAY OUT_TOML
"""

import json
import random
import struct
import sys
import urllib.error
import urllib.request
import uuid
import zlib

GATEWAY, OUT = sys.argv[1], sys.argv[2]


def call(method, path, token=None, body=None, raw=None, content_type="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(GATEWAY + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", content_type)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ok(answer, what):
    status, body = answer
    if status >= 300:
        raise SystemExit(f"seeding failed at {what}: {status} {body}")
    return body["data"]


def user(prefix):
    name = f"{prefix}_{random.randrange(10**9)}"
    password = f"pw-{uuid.uuid4()}"
    me = ok(call("POST", "/api/user/register", body={"username": name, "password": password}), f"register {name}")
    tokens = ok(call("POST", "/api/user/login", body={"username": name, "password": password}), f"login {name}")
    return me["user_id"], tokens["access_token"]


def png(width=4, height=4):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\xff\x80\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


a_id, a = user("fuzz")
b_id, b = user("fuzzfriend")
c_id, c = user("fuzzasker")
params = {"user_id": b_id}

request = ok(call("POST", "/api/friend/requests", a, {"to_user_id": b_id}), "friend request")
ok(call("POST", f"/api/friend/requests/{request['request_id']}/accept", b, {}), "accept")
asked = ok(call("POST", "/api/friend/requests", c, {"to_user_id": a_id}), "request from C")
params["request_id"] = asked["request_id"]

sent = ok(call("POST", "/api/chat/send", a, {"client_msg_id": str(uuid.uuid4()), "to_user_id": b_id,
                                             "type": "text", "content": {"text": "hello fuzzer"}}), "send")
params["message_id"] = sent["message_id"]
params["conversation_id"] = sent["conversation_id"]
params["emoji"] = "👍"

group = ok(call("POST", "/api/group", a, {"name": "fuzz group", "member_ids": [b_id]}), "group")
params["group_id"] = group["group_id"]

moment = ok(call("POST", "/api/moment", a, {"text": "fuzz moment", "visibility": "friends"}), "moment")
params["moment_id"] = moment["moment_id"]
comment = ok(call("POST", f"/api/moment/{moment['moment_id']}/comments", b, {"text": "nice"}), "comment")
params["comment_id"] = comment["comment_id"]

image = png()
upload = ok(call("POST", "/api/file/uploads", a, {"name": "dot.png", "size": len(image), "purpose": "emoji"}), "upload")
ok(call("PUT", f"/api/file/uploads/{upload['file_id']}/parts/1", a, raw=image, content_type="application/octet-stream"), "part")
ok(call("POST", f"/api/file/uploads/{upload['file_id']}/complete", a, {}), "complete")
params["file_id"] = upload["file_id"]
favorite = ok(call("POST", "/api/emoji/favorites", a, {"file_id": upload["file_id"]}), "favorite")
params["emoji_id"] = favorite["emoji_id"]

pack = ok(call("POST", "/api/emoji/packs", a, {"title": "fuzz pack", "items": [{"file_id": upload["file_id"]}]}), "pack")
params["pack_id"] = pack["pack_id"]

# a group of B's that C asked to join, so approve/reject have a pending request
# (B's own group: the fuzzer, A, is a member and admin there only if made so)
status, open_group = call("POST", "/api/group", b, {"name": "fuzz open group", "member_ids": [a_id], "join_policy": "approval"})

# destructive operations get targets of their own, so that one early
# dissolve, delete or leave does not turn every other operation into a 404
own = {}
spare_group = ok(call("POST", "/api/group", a, {"name": "fuzz spare", "member_ids": [b_id]}), "spare group")
own["DELETE /api/group/{group_id}"] = {"group_id": spare_group["group_id"]}
own["POST /api/group/{group_id}/leave"] = {"group_id": spare_group["group_id"]}
own["POST /api/group/{group_id}/transfer"] = {"group_id": spare_group["group_id"]}
spare_moment = ok(call("POST", "/api/moment", a, {"text": "fuzz spare", "visibility": "friends"}), "spare moment")
own["DELETE /api/moment/{moment_id}"] = {"moment_id": spare_moment["moment_id"]}
spare = ok(call("POST", "/api/file/uploads", a, {"name": "spare.png", "size": len(image), "purpose": "emoji"}), "spare upload")
ok(call("PUT", f"/api/file/uploads/{spare['file_id']}/parts/1", a, raw=image, content_type="application/octet-stream"), "spare part")
ok(call("POST", f"/api/file/uploads/{spare['file_id']}/complete", a, {}), "spare complete")
own["DELETE /api/file/{file_id}"] = {"file_id": spare["file_id"]}
spare_pack = ok(call("POST", "/api/emoji/packs", a, {"title": "spare pack", "items": [{"file_id": upload["file_id"]}]}), "spare pack")
own["DELETE /api/emoji/packs/{pack_id}"] = {"pack_id": spare_pack["pack_id"]}
own["DELETE /api/friend/{user_id}"] = {"user_id": c_id}
own["DELETE /api/group/{group_id}/members/{user_id}"] = {"group_id": spare_group["group_id"]}

status, started = call("POST", "/api/call", a, {"conversation_id": sent["conversation_id"], "media": "audio", "device_id": "fuzz"})
if status < 300:
    params["call_id"] = started["data"]["call_id"]

status, page = call("GET", "/api/notification", a)
items = (page or {}).get("data", {}).get("items") or []
if items:
    params["notification_id"] = items[0].get("notification_id") or items[0].get("id")
params["device_id"] = "fuzz"

with open(OUT, "w") as out:
    out.write("# written by tests/fuzz/seed.py for one run\n[parameters]\n")
    for name, value in sorted(params.items()):
        if value is not None:
            out.write(f'"path.{name}" = {json.dumps(str(value), ensure_ascii=False)}\n')
    for operation, values in own.items():
        if not values:
            continue
        out.write(f'\n[[operations]]\ninclude-name = "{operation}"\n[operations.parameters]\n')
        merged = dict(params, **values)
        for name, value in sorted(merged.items()):
            if value is not None and "{" + name + "}" in operation:
                out.write(f'"path.{name}" = {json.dumps(str(value), ensure_ascii=False)}\n')
print(a)
