"""The ``lms-outcomes`` client: ``import``, ``export``, ``status``, ``cancel`` and ``revert``
against a running server's HTTP API (any host of the plugin, not only the embedded one).

It uses only the API and depends on nothing else of the plugin: ``http.py`` speaks to the
server, ``commands.py`` parses the command line and shows what happens.
"""
