"""Signing in: who may use Retail Pulse, as whom, and for how long.

The pure modules (no streamlit import) hold the rules; ``login`` alone draws them:

* ``accounts``: the API the rest of the app imports (settings check, sign-in, sessions);
* ``roles``: ``Role`` and ``Principal``; ``credentials``: the users file; ``passwords``: bcrypt;
* ``tokens``: the re-login cookie and key checks; ``sessions``: per-user session epochs;
* ``throttle``: failed-login backoff; ``atomic_file``: locked, atomic writes of the two files;
* ``users``: the command line, ``python -m dashboard.auth.users``;
* ``login``: the Streamlit side (startup checks, the login form, the logout button).

Importing this package imports nothing, so pure callers never pull in streamlit.
"""
