"""The annotation page: a Starlette app over one :class:`autocode.app.session.AnnotationSession`."""
