"""timetrack-sync: keeps TimeTrack users in step with an HR CSV export or LDAP directory."""

__version__ = "0.1.0"
