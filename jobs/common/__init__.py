"""What every job shares: option declarations (`options`), the parser and its help (`cli_help`), running
a job as the command line does (`runner`), where lines go (`logs`, `console`), the progress bar
(`progress`) and table output (`output`, `cells`, `answers`). `jobs/<name>.py` holds only a job's wiring."""
