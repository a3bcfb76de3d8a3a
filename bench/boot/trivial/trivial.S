// The smallest possible PVH guest: the floor of every boot-time measurement ("QEMU's floor").
//
// QEMU loads this ELF, finds the Xen PHYS32_ENTRY note and jumps to `pvh_entry` in 32-bit
// protected mode with paging off (ebx = start_info, unused here). The guest reports its status
// on the Nimbus status channel (COM2, one line `exit N`, see docs/runner.md) and then on
// isa-debug-exit, exactly as the Nimbus kernel does, and halts.
//
// Build-time variants (preprocessor): TRIVIAL_STATUS=N exits with N; TRIVIAL_PANIC reports
// `panic`; TRIVIAL_SILENT skips the status line (the runner must fall back to QEMU's exit
// code); TRIVIAL_TRIPLE_FAULT reports nothing and triple-faults; TRIVIAL_HANG spins forever.

#ifndef TRIVIAL_STATUS
#define TRIVIAL_STATUS 0
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

#define COM2_THR 0x2f8       // 16550 transmit holding register [pc16550d §8.2]
#define DEBUG_EXIT_PORT 0xf4 // QEMU isa-debug-exit, iobase=0xf4

    .code32
    .section .text.entry, "ax"
    .globl pvh_entry
pvh_entry:
    cli
#if defined(TRIVIAL_HANG)
1:  jmp 1b
#elif defined(TRIVIAL_TRIPLE_FAULT)
    lidt zero_idt            // no IDT: the first exception is a triple fault
    ud2
#else
#if !defined(TRIVIAL_SILENT)
    // QEMU's UART sends whatever is written to THR; no baud/LCR setup is needed.
    mov $status_line, %esi
    mov $COM2_THR, %dx
2:  lodsb
    test %al, %al
    jz 3f
    outb %al, %dx
    jmp 2b
3:
#endif
    mov $TRIVIAL_STATUS, %al
    outb %al, $DEBUG_EXIT_PORT
#endif
    // Not reached under QEMU with isa-debug-exit; stay parked otherwise.
4:  hlt
    jmp 4b

    .section .rodata, "a"
status_line:
#if defined(TRIVIAL_PANIC)
    .asciz "panic\n"
#else
    .ascii "exit "
    .ascii STR(TRIVIAL_STATUS)
    .asciz "\n"
#endif
    .balign 8
zero_idt:
    .word 0
    .long 0

// PVH entry note [xen public/elfnote.h: XEN_ELFNOTE_PHYS32_ENTRY = 18]. The descriptor is 8
// bytes, like Linux's: QEMU 7.2 reads a size_t there for ELF64 kernels. The note segment
// must have 4-byte alignment: QEMU pads the name to the segment's p_align.
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                  // n_namesz: "Xen\0"
    .long 8                  // n_descsz
    .long 18                 // n_type: XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .quad pvh_entry
