"""Imported only inside the /lazy view: proves site modules load at run time too."""

ANSWER = "lazy helper loaded"
