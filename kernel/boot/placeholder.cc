// Portable boot-time parsers: boot options and the PVH start_info.
