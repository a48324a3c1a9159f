"""The file an export route produces, without a web framework: what the GET serves and a job stores."""
