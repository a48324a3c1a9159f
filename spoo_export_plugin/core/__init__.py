"""The query core, no web framework, in three rooms: ``request`` (what was asked), ``engine`` (how it is
counted) and ``report`` (what the answer is); ``service`` and ``clicks`` combine them."""
