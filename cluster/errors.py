"""Errors a user can hit, by what to do about them; each names the entity and the fix."""

from __future__ import annotations


class RaytablesError(Exception):
    """Root of every raytables error."""


class ConfigError(RaytablesError):
    """The app's declaration is wrong: fix the code or the topic, then start again."""


class PartitionCountMismatch(ConfigError):
    pass


class BrokerUnavailable(RaytablesError):
    """The broker did not answer in time: start it or fix the address."""


class ChangelogAheadOfTopic(RaytablesError):
    """A store remembers more changelog than the topic holds (topic recreated?).

    Fix: delete the partition's store directory (named in the message) so it is
    rebuilt from the changelog, or restore the topic.
    """


class PartitionFailed(RaytablesError):
    """A partition actor failed to start or stopped unexpectedly."""
