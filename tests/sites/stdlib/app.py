"""Stdlib fixture: each view uses something a framework takes for granted, unmodified."""

import asyncio
import getpass
import grp
import json
import os
import pwd

# At build time, in the app's code folder: a relative open works while the module imports.
with open("data.txt") as file:
    BUILD_DATA = file.read().strip()
BUILD_CWD = os.getcwd()


def _json(start_response, value, status="200 OK"):
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(value, sort_keys=True).encode()]


def users():
    entry = pwd.getpwuid(os.getuid())
    try:
        pwd.getpwnam("root")
        root = "found"
    except KeyError as exc:
        root = f"KeyError: {exc}"
    return {
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
        "groups": os.getgroups(),
        "passwd": list(entry),
        "by_name": pwd.getpwnam(entry.pw_name).pw_uid,
        "group": grp.getgrgid(os.getgid()).gr_name,
        "getuser": getpass.getuser(),
        "home": os.path.expanduser("~"),
        "root": root,
    }


def cwd():
    with open("data.txt") as file:
        data = file.read().strip()
    return {"cwd": os.getcwd(), "data": data, "build_cwd": BUILD_CWD, "build_data": BUILD_DATA}


async def _work():
    async def later(value, delay):
        await asyncio.sleep(delay)
        return value

    gathered = await asyncio.gather(later("a", 0.02), later("b", 0.01))
    try:
        await asyncio.wait_for(asyncio.sleep(5), timeout=0.01)
        timed_out = False
    except TimeoutError:
        timed_out = True
    queue = asyncio.Queue()
    await queue.put("queued")
    return {"gathered": gathered, "timed_out": timed_out, "queue": await queue.get()}


def event_loop():
    result = asyncio.run(_work())
    loop = asyncio.new_event_loop()
    try:
        result["second_loop"] = loop.run_until_complete(asyncio.sleep(0, result="again"))
    finally:
        loop.close()
    return result


def scrypt(query):
    """`hashlib.scrypt` of `password=…&salt=…&n=…&r=…&p=…[&maxmem=…][&dklen=…]`."""
    import hashlib
    from urllib.parse import parse_qsl

    args = dict(parse_qsl(query, keep_blank_values=True))
    password, salt = args.pop("password").encode(), args.pop("salt").encode()
    try:
        key = hashlib.scrypt(password, salt=salt, **{k: int(v) for k, v in args.items()})
        return {"key": key.hex()}
    except (ValueError, OverflowError, TypeError) as exc:
        return {"error": [type(exc).__name__, str(exc)]}


def processes():
    import concurrent.futures
    import multiprocessing
    import subprocess

    attempts = {
        "subprocess.run": lambda: subprocess.run(["true"], check=True),
        "subprocess.check_output": lambda: subprocess.check_output(["ls"]),
        "os.popen": lambda: os.popen("ls"),
        "multiprocessing.Pool": lambda: multiprocessing.Pool(2),
        "multiprocessing.Process": lambda: multiprocessing.Process(target=print).start(),
        "ProcessPoolExecutor": lambda: concurrent.futures.ProcessPoolExecutor(),
    }
    refused = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            refused[name] = "started"
        except Exception as exc:
            refused[name] = [type(exc).__name__, str(exc)]
    return refused


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/users":
        return _json(start_response, users())
    if path == "/cwd":
        return _json(start_response, cwd())
    if path == "/chdir":
        os.chdir("/tmp")
        return _json(start_response, {"cwd": os.getcwd()})
    if path == "/asyncio":
        return _json(start_response, event_loop())
    if path == "/pkg_resources":
        import pkg_resources

        return _json(start_response, {"setuptools": pkg_resources.get_distribution("setuptools").version})
    if path == "/scrypt":
        return _json(start_response, scrypt(environ["QUERY_STRING"]))
    if path == "/processes":
        return _json(start_response, processes())
    if path == "/subprocess":
        import subprocess

        subprocess.run(["true"])  # uncaught: a 500, the reason in the log
    return _json(start_response, {"error": "not found"}, "404 Not Found")
