// Portable memory-management logic.
