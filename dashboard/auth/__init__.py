"""Signing in: who may use Retail Pulse, as whom, and for how long.

The pure modules (no streamlit import) hold the rules; ``login`` and ``binding`` draw and enforce them:

* ``accounts``: the API the rest of the app imports (sign-in, sessions, re-exports of the rest);
* ``config``: the sign-in settings and every reason to refuse to start;
* ``roles``: ``Role`` and ``Principal``; ``credentials``: the users file; ``passwords``: bcrypt;
* ``tokens``: the re-login cookie and the cookie-key check; ``sessions``: per-user session epochs;
* ``throttle``: failed-login backoff; ``challenges``: the picture challenge that replaces its wait;
* ``atomic_file``: locked, atomic writes of the users and epochs files;
* ``users``: the command line, ``python -m dashboard.auth.users``;
* ``login``: the Streamlit side (startup checks, the login form, the logout button);
* ``binding``: ties a signed-in session to the browser that signed in, not to its session id.

Importing this package imports nothing, so pure callers never pull in streamlit.
"""
