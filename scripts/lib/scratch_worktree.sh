# Sourced by the scripts that run DVC away from this workspace: `scratch_worktree NAME REF` makes a git worktree of
# REF at .dvc/tmp/NAME (replacing a leftover one) that shares this workspace's DVC cache (outputs are links, not
# copies), sets SCRATCH to its path, and removes it when the script exits.
scratch_worktree() {
    SCRATCH_REPO=$(pwd)
    SCRATCH="$SCRATCH_REPO/.dvc/tmp/$1"
    local cache
    cache=$(dvc cache dir)
    trap _scratch_worktree_remove EXIT
    _scratch_worktree_remove
    git worktree add -q --detach "$SCRATCH" "$2"
    (cd "$SCRATCH" && dvc cache dir --local "$cache")
}

_scratch_worktree_remove() {  # git leaves the ignored files (DVC's tmp) behind
    git -C "$SCRATCH_REPO" worktree remove --force "$SCRATCH" 2>/dev/null || true
    rm -rf "$SCRATCH"
    git -C "$SCRATCH_REPO" worktree prune
}
