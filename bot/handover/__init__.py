"""Asking an official (issue 12): tickets, their delivery back to the citizen, and telling citizens who
waited when their question gets an answer. store.py keeps them, hours.py knows the office's hours,
seal.py seals addresses, flow.py is the engine's side of the conversation, courier.py delivers."""
