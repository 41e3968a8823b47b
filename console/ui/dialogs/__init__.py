"""The dialogs behind each remote-control key: what they list, what they
ask, and which core action they run once confirmed."""
