#!/bin/bash
# The sync rounds into raw targets written directly (no qemu-nbd).
TRANSPORT=file TARGET_FORMAT=raw exec "$(dirname "$0")/sync-rounds.sh"
