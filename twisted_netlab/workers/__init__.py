"""``--workers N``: a supervisor process and N workers sharing its listening sockets."""
