"""Reading real things on this machine: ELF files (pyelftools) and file identities (stat)."""
