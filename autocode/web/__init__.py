"""The web doors: the local annotation page (:mod:`.server`, one coder, ``autocode annotate``) and the
team server (:mod:`.team`, accounts and logins, ``autocode serve``), both Starlette apps."""
