#!/bin/bash
TRANSPORT=vddk exec "$(dirname "$0")/sync-rounds.sh"
