/* startup_m4.S: the vector table and reset code of the bare-metal trainer
 * (Cortex-M4F on QEMU's mps2-an386; any Cortex-M4F with mps2_an386.ld's
 * symbols).
 *
 * Reset, in order: give the FPU full access (CPACR: CP10 and CP11) and wait
 * for it (dsb, isb) before any floating-point instruction can run, copy
 * .data from its load address, zero .bss, open newlib's semihosting
 * streams, call main, and exit with its status (exit flushes stdout).  A fault ends the run
 * through semihosting (SYS_EXIT, run-time error), so QEMU exits with
 * status 1 instead of hanging.
 */
    .syntax unified
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .thumb

    .section .isr_vector, "a", %progbits
    .align 2
    .global __isr_vector
__isr_vector:
    .word __stack_top          /* initial main stack pointer */
    .word Reset_Handler
    .word Fault_Handler        /* NMI */
    .word Fault_Handler        /* HardFault */
    .word Fault_Handler        /* MemManage */
    .word Fault_Handler        /* BusFault */
    .word Fault_Handler        /* UsageFault (an FPU instruction with CPACR off lands here) */
    .word 0, 0, 0, 0           /* reserved */
    .word Fault_Handler        /* SVCall */
    .word Fault_Handler        /* DebugMonitor */
    .word 0                    /* reserved */
    .word Fault_Handler        /* PendSV */
    .word Fault_Handler        /* SysTick */

    .text
    .thumb_func
    .global Reset_Handler
Reset_Handler:
    /* CPACR (0xE000ED88) bits 20-23: full access to CP10 and CP11 */
#ifndef NO_FPU_ENABLE /* tests/run_embedded.sh: without it, the first float instruction faults */
    ldr   r0, =0xE000ED88
    ldr   r1, [r0]
    orr   r1, r1, #(0xF << 20)
    str   r1, [r0]
    dsb
    isb
#endif

    /* .data: from __data_load to [__data_start, __data_end) */
    ldr   r0, =__data_start
    ldr   r1, =__data_end
    ldr   r2, =__data_load
1:  cmp   r0, r1
    bhs   2f
    ldr   r3, [r2], #4
    str   r3, [r0], #4
    b     1b

    /* .bss: [__bss_start, __bss_end) to zero */
2:  ldr   r0, =__bss_start
    ldr   r1, =__bss_end
    movs  r3, #0
3:  cmp   r0, r1
    bhs   4f
    str   r3, [r0], #4
    b     3b

4:  bl    initialise_monitor_handles
    bl    main
    bl    exit
    b     .

/* newlib's exit runs __libc_fini_array, which calls _fini; crti.o is left
 * out with the rest of the start files (-nostartfiles), and a C program has
 * no constructors or destructors to run, so both hooks are empty. */
    .thumb_func
    .global _init
_init:
    bx    lr
    .thumb_func
    .global _fini
_fini:
    bx    lr

    .thumb_func
    .global Fault_Handler
Fault_Handler:
    movs  r0, #0x18            /* SYS_EXIT */
    ldr   r1, =0x20023         /* ADP_Stopped_RunTimeError */
    bkpt  0xab
    b     .
