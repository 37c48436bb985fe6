#!/usr/bin/python3
"""Drives Berth with Debian's python3-os-xenapi XenAPI.py binding, unchanged.

Usage: xenapi_client.py URL USER PASSWORD
Prints one JSON object with what it observed; the Node test asserts on it.
"""
import json
import sys
import threading
import time
import xmlrpc.client

from os_xenapi.client import XenAPI

url, user, password = sys.argv[1:4]
out = {}

session = XenAPI.Session(url)
# The old binding calls pool.get_all, pool.get_master and host.get_API_version_* right after login.
session.xenapi.login_with_password(user, password, "2.21", "berth-python-test")
x = session.xenapi
try:
    out["api_version"] = [session.API_version] if hasattr(session, "API_version") else []
    pool = x.pool.get_all()[0]
    master = x.pool.get_master(pool)
    out["api_major"] = x.host.get_API_version_major(master)
    out["api_minor"] = x.host.get_API_version_minor(master)
    out["product_brand"] = x.host.get_software_version(master).get("product_brand")
    vms = x.VM.get_all_records()
    out["vm_count"] = len(vms)
    out["control_domains"] = sum(1 for v in vms.values() if v["is_control_domain"])
    dom0 = next(r for r, v in vms.items() if v["is_control_domain"])
    out["dom0_memory_type"] = type(vms[dom0]["memory_static_max"]).__name__
    out["pif_where"] = len(x.PIF.get_all_records_where('field "management" = "true"'))

    # A field change arrives through event.from (underscore alias, float timeout).
    token = x.event_from(["pool"], "", 1.0)["token"]
    x.pool.set_name_description(pool, "changed-by-python")
    seen = None
    deadline = time.time() + 10
    while seen is None and time.time() < deadline:
        res = x.event_from(["pool"], token, 5.0)
        token = res["token"]
        for ev in res["events"]:
            if ev["class"] == "pool" and ev["operation"] == "mod":
                seen = ev["snapshot"]["name_description"]
    out["event_seen"] = seen
    out["valid_ref_counts_has_task"] = "task" in res["valid_ref_counts"]

    # A bad call raises Failure with xapi's error list.
    try:
        x.VM.get_record("OpaqueRef:00000000-0000-0000-0000-000000000000")
    except XenAPI.Failure as f:
        out["failure"] = f.details
    try:
        x.VM.get_record()
    except XenAPI.Failure as f:
        out["count_mismatch"] = f.details

    # Async call, polled the way scripts do it.
    task = x.Async.pool.get_license_state(pool)
    while x.task.get_status(task) == "pending":
        time.sleep(0.05)
    rec = x.task.get_record(task)
    value = xmlrpc.client.loads(
        "<methodResponse><params><param>%s</param></params></methodResponse>" % rec["result"])[0][0]
    out["task_status"] = rec["status"]
    out["task_result"] = value
    x.task.destroy(task)
finally:
    session.xenapi.session.logout()
print(json.dumps(out))
