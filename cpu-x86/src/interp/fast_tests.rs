//! Fast forms ([`super::fast`]) against the general path: every form, from many states (random
//! registers and flags, memory operands inside and outside the segment's limit, jumps past CS's
//! limit), leaves the same registers, EIP, flags, memory and fault as [`exec`](super::exec).

use super::fast::{Fast, Src};
use crate::cpu::Cpu;
use crate::decode::{decode, Insn, Mnemonic as M};
use crate::fault::Res;
use crate::flags::{CcOp, Size};
use crate::state::{attr, cr0, reg, SegReg, Segment};
use emu_core::{ClockMode, System};

/// Where the instructions are decoded at (their EIP).
const AT: u32 = 0x1000;
/// Data segment limit: memory operands at or above it fault.
const DS_LIMIT: u32 = 0x7_ffff;
/// CS limit: jumps beyond it fault.
const CS_LIMIT: u32 = 0xf_ffff;
/// SS base (DS's is 0).
const SS_BASE: u32 = 0x40;

/// Protected mode, 32-bit code; DS and SS end at `DS_LIMIT`, CS at `CS_LIMIT`.
fn cpu() -> Cpu {
    let mut c = Cpu::new(System::new(1 << 20, ClockMode::Deterministic { ns_per_insn: 1 }).unwrap());
    c.s.cr0 |= cr0::PE;
    let data = Segment {
        base: 0,
        limit: DS_LIMIT,
        selector: 0x10,
        attr: attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB,
    };
    c.s.segs = [data; 6];
    c.s.segs[1] = Segment { selector: 0x08, limit: CS_LIMIT, attr: data.attr | attr::CODE, ..data };
    // SS and FS elsewhere, so an operand read through the wrong segment shows; ES read-only,
    // so a read-modify-write can read and then fault on the write.
    c.s.segs[SegReg::Ss as usize].base = SS_BASE;
    c.s.segs[SegReg::Fs as usize].base = 0x800;
    c.s.segs[SegReg::Es as usize].attr &= !attr::RW;
    c
}

/// A small xorshift generator (the tests are the same on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    fn pick(&mut self, from: &[u32]) -> u32 {
        from[self.next() as usize % from.len()]
    }
}

/// Instructions with fast forms (32-bit code), each with the form `Fast::of` must give.
fn forms() -> Vec<(&'static [u8], Fast)> {
    use Fast::*;
    use Src::{Imm, Mem, Reg};
    vec![
        (&[0x89, 0xd8], Mov(0, Reg(3))),                                  // mov eax, ebx
        (&[0x8b, 0xe3], Mov(4, Reg(3))),                                  // mov esp, ebx
        (&[0xb9, 0x78, 0x56, 0x34, 0x12], Mov(1, Imm(0x1234_5678))),      // mov ecx, imm
        (&[0x8b, 0x43, 0x04], Mov(0, Mem)),                               // mov eax, [ebx+4]
        (&[0x89, 0x4b, 0x04], Store(1)),                                  // mov [ebx+4], ecx
        (&[0x64, 0x8b, 0x43, 0x04], Mov(0, Mem)),                         // mov eax, fs:[ebx+4]
        (&[0x89, 0x4d, 0x04], Store(1)),                                  // mov [ebp+4], ecx (SS)
        (&[0x64, 0x89, 0x4b, 0x04], Store(1)),                            // mov fs:[ebx+4], ecx
        (&[0x64, 0x03, 0x43, 0x04], Alu(M::Add, 0, Mem)),                 // add eax, fs:[ebx+4]
        (&[0x26, 0x8b, 0x43, 0x04], Mov(0, Mem)),                         // mov eax, es:[ebx+4] (read-only ES)
        (&[0x26, 0x89, 0x4b, 0x04], Store(1)),                            // mov es:[ebx+4], ecx (faults)
        (&[0x26, 0x01, 0x4b, 0x04], AluMem(M::Add, Reg(1))),              // add es:[ebx+4], ecx (read, then fault)
        (&[0x26, 0xff, 0x73, 0x04], PushSrc(Mem)),                        // push dword es:[ebx+4]
        (&[0xc7, 0x43, 0x04, 1, 2, 3, 4], StoreImm(0x0403_0201)),         // mov dword [ebx+4], imm
        (&[0x01, 0xd8], Alu(M::Add, 0, Reg(3))),                          // add eax, ebx
        (&[0x11, 0xd8], Alu(M::Adc, 0, Reg(3))),                          // adc eax, ebx
        (&[0x19, 0xd8], Alu(M::Sbb, 0, Reg(3))),                          // sbb eax, ebx
        (&[0x29, 0xd8], Alu(M::Sub, 0, Reg(3))),                          // sub eax, ebx
        (&[0x31, 0xc0], Alu(M::Xor, 0, Reg(0))),                          // xor eax, eax
        (&[0x21, 0xd8], Alu(M::And, 0, Reg(3))),                          // and eax, ebx
        (&[0x09, 0xd8], Alu(M::Or, 0, Reg(3))),                           // or eax, ebx
        (&[0x39, 0xd8], Alu(M::Cmp, 0, Reg(3))),                          // cmp eax, ebx
        (&[0x85, 0xd8], Alu(M::Test, 0, Reg(3))),                         // test eax, ebx
        (&[0x83, 0xc0, 0xfd], Alu(M::Add, 0, Imm(0xffff_fffd))),          // add eax, -3
        (&[0x81, 0xe9, 0, 0, 0, 0x80], Alu(M::Sub, 1, Imm(0x8000_0000))), // sub ecx, imm
        (&[0x83, 0xf8, 0x05], Alu(M::Cmp, 0, Imm(5))),                    // cmp eax, 5
        (&[0xa9, 0xff, 0, 0, 0], Alu(M::Test, 0, Imm(0xff))),             // test eax, 0xff
        (&[0x83, 0xd2, 0x01], Alu(M::Adc, 2, Imm(1))),                    // adc edx, 1
        (&[0x03, 0x43, 0x04], Alu(M::Add, 0, Mem)),                       // add eax, [ebx+4]
        (&[0x1b, 0x43, 0x04], Alu(M::Sbb, 0, Mem)),                       // sbb eax, [ebx+4]
        (&[0x3b, 0x43, 0x04], Alu(M::Cmp, 0, Mem)),                       // cmp eax, [ebx+4]
        (&[0x40], Inc(0)),                                                // inc eax
        (&[0xff, 0xc9], Dec(1)),                                          // dec ecx
        (&[0x8d, 0x44, 0x8b, 0x08], Lea(0)),                              // lea eax, [ebx+ecx*4+8]
        (&[0x67, 0x8d, 0x47, 0xf8], Lea(0)),                              // lea eax, [bx-8] (16-bit address)
        (&[0x50], Push(0)),                                               // push eax
        (&[0x54], Push(4)),                                               // push esp
        (&[0x58], Pop(0)),                                                // pop eax
        (&[0x5c], Pop(4)),                                                // pop esp
        (&[0x75, 0x10], Jcc(5, 0x10)),                                    // jne +0x10
        (&[0x7c, 0xf0], Jcc(0xc, 0xffff_fff0)),                           // jl -0x10
        (&[0x0f, 0x86, 0, 0, 0, 0x10], Jcc(6, 0x1000_0000)),              // jbe +0x10000000 (past CS's limit)
        (&[0x7a, 0x04], Jcc(0xa, 4)),                                     // jp +4
        (&[0xeb, 0x05], Jmp(5)),                                          // jmp +5
        (&[0xe9, 0, 0, 0x10, 0], Jmp(0x10_0000)),                         // jmp past CS's limit
        (&[0xe8, 0x00, 0x01, 0, 0], Call(0x100)),                         // call +0x100
        (&[0xe8, 0, 0, 0x10, 0], Call(0x10_0000)),                        // call past CS's limit
        (&[0xc3], Ret),                                                   // ret
        (&[0x02, 0xc3], AluByte(M::Add, 0, Reg(3))),                      // add al, bl
        (&[0x84, 0xc0], AluByte(M::Test, 0, Reg(0))),                     // test al, al
        (&[0x84, 0xe4], AluByte(M::Test, 4, Reg(4))),                     // test ah, ah
        (&[0x80, 0xfc, 0x05], AluByte(M::Cmp, 4, Imm(5))),                // cmp ah, 5
        (&[0xa8, 0x01], AluByte(M::Test, 0, Imm(1))),                     // test al, 1
        (&[0x02, 0x43, 0x04], AluByte(M::Add, 0, Mem)),                   // add al, [ebx+4]
        (&[0x28, 0xf8], AluByte(M::Sub, 0, Reg(7))),                      // sub al, bh
        (&[0x18, 0xe7], AluByte(M::Sbb, 7, Reg(4))),                      // sbb bh, ah
        (&[0x01, 0x4b, 0x04], AluMem(M::Add, Reg(1))),                    // add [ebx+4], ecx
        (&[0x83, 0x7b, 0x04, 0x05], AluMem(M::Cmp, Imm(5))),              // cmp dword [ebx+4], 5
        (&[0x39, 0x4b, 0x04], AluMem(M::Cmp, Reg(1))),                    // cmp [ebx+4], ecx
        (&[0x81, 0x63, 0x04, 0xff, 0, 0, 0], AluMem(M::And, Imm(0xff))),  // and dword [ebx+4], 0xff
        (&[0x85, 0x4b, 0x04], AluMem(M::Test, Reg(1))),                   // test [ebx+4], ecx
        (&[0x64, 0x11, 0x4d, 0x04], AluMem(M::Adc, Reg(1))),              // adc fs:[ebp+4], ecx
        (&[0x0f, 0xb6, 0x43, 0x04], Extend(false, Size::B, 0, Mem)),      // movzx eax, byte [ebx+4]
        (&[0x0f, 0xb7, 0x43, 0x04], Extend(false, Size::W, 0, Mem)),      // movzx eax, word [ebx+4]
        (&[0x0f, 0xbe, 0xc7], Extend(true, Size::B, 0, Reg(7))),          // movsx eax, bh
        (&[0x0f, 0xbf, 0xc3], Extend(true, Size::W, 0, Reg(3))),          // movsx eax, bx
        (&[0x0f, 0xb6, 0xcc], Extend(false, Size::B, 1, Reg(4))),         // movzx ecx, ah
        (&[0xc1, 0xc0, 0x05], Shift(M::Rol, 0, 5)),                       // rol eax, 5
        (&[0xc1, 0xc8, 0x1f], Shift(M::Ror, 0, 31)),                      // ror eax, 31
        (&[0xc1, 0xe0, 0x00], Shift(M::Shl, 0, 0)),                       // shl eax, 0
        (&[0xc1, 0xe8, 0x21], Shift(M::Shr, 0, 33)),                      // shr eax, 33 (masked to 1)
        (&[0xc1, 0xf8, 0x04], Shift(M::Sar, 0, 4)),                       // sar eax, 4
        (&[0xc1, 0xd8, 0x03], Shift(M::Rcr, 0, 3)),                       // rcr eax, 3
        (&[0xc1, 0xd0, 0x01], Shift(M::Rcl, 0, 1)),                       // rcl eax, 1
        (&[0x0f, 0x44, 0xc3], Cmov(4, 0, Reg(3))),                        // cmove eax, ebx
        (&[0x0f, 0x4f, 0x43, 0x04], Cmov(0xf, 0, Mem)),                   // cmovg eax, [ebx+4]
        (&[0x0f, 0x94, 0xc0], Set(4, 0)),                                 // sete al
        (&[0x0f, 0x9f, 0xc4], Set(0xf, 4)),                               // setg ah
        (&[0x6a, 0xfc], PushSrc(Imm(0xffff_fffc))),                       // push -4
        (&[0x68, 0x78, 0x56, 0x34, 0x12], PushSrc(Imm(0x1234_5678))),     // push imm32
        (&[0xff, 0x73, 0x04], PushSrc(Mem)),                              // push dword [ebx+4]
        (&[0xff, 0x74, 0x24, 0x04], PushSrc(Mem)),                        // push dword [esp+4]
    ]
}

fn decoded(bytes: &[u8], code32: bool) -> Insn {
    decode(code32, |n| bytes.get(n).copied().ok_or(())).unwrap()
}

#[test]
fn each_form_is_classified_as_listed() {
    for (bytes, want) in forms() {
        assert_eq!(Fast::of(&decoded(bytes, true), true), want, "{bytes:02x?}");
        // 16-bit code has none.
        assert_eq!(Fast::of(&decoded(bytes, true), false), Fast::General, "{bytes:02x?}");
    }
}

#[test]
fn other_forms_take_the_general_path() {
    let general: &[&[u8]] = &[
        &[0x66, 0x89, 0xd8],       // mov ax, bx
        &[0x88, 0xd8],             // mov al, bl
        &[0x66, 0x01, 0xd8],       // add ax, bx
        &[0x00, 0x43, 0x04],       // add [ebx+4], al (byte memory destination)
        &[0xd3, 0xe0],             // shl eax, cl
        &[0x0f, 0xa4, 0xc3, 0x04], // shld ebx, eax, 4
        &[0x66, 0x0f, 0xb6, 0xc3], // movzx ax, bl
        &[0xd0, 0xe0],             // shl al, 1
        &[0x8a, 0x43, 0x04],       // mov al, [ebx+4]
        &[0x8c, 0xd8],             // mov eax, ds
        &[0x66, 0x50],             // push ax
        &[0xc2, 0x08, 0x00],       // ret 8
        &[0x66, 0x75, 0x10],       // jne with a 16-bit operand size
        &[0xff, 0xe0],             // jmp eax
        &[0xf7, 0xd8],             // neg eax
        &[0x0f, 0xaf, 0xc3],       // imul eax, ebx
    ];
    for bytes in general {
        assert_eq!(Fast::of(&decoded(bytes, true), true), Fast::General, "{bytes:02x?}");
    }
}

/// What the comparison covers: registers, EIP, EFLAGS, the fault, and the memory the forms
/// can touch (the stack and the data around EBX's values).
fn outcome(c: &mut Cpu, r: Res) -> (Vec<u32>, u32, u32, Res, Vec<u8>) {
    let mut mem = vec![0; 0x3000];
    c.sys.read_bytes(0x7_e000, &mut mem);
    let mut low = vec![0; 0x2000];
    c.sys.read_bytes(0x4000, &mut low);
    mem.extend(low);
    (c.s.regs.to_vec(), c.s.eip, c.s.eflags(), r, mem)
}

/// A random machine state for the forms to start from (see `every_form_...`): `setup` makes
/// the same machine each time it is called.
fn random_state(rng: &mut Rng) -> impl Fn() -> Cpu {
    // EBX and EBP (memory operands at EBX+4 and EBP+4): inside DS, across its limit, far outside.
    let bases = [0x4ffc, 0x5000, 0x7_fffa, 0x7_fffc, 0x7_fff8, 0xffff_fff0, 0x4000_0000];
    // ESP: inside SS, at its bottom (a push wraps to 0xFFFFFFFC), at its limit.
    let stacks = [0x7_f000, 0x7_fffc, 0x7_fffe, 0, 2, 0x8_0000];
    let flag_ops = [CcOp::ADD, CcOp::SUB, CcOp::LOGIC, CcOp::INC, CcOp::ADC, CcOp::SBB];
    let mut regs = [0u32; 8];
    regs.iter_mut().for_each(|r| *r = rng.next());
    regs[reg::EBX] = rng.pick(&bases);
    if rng.next().is_multiple_of(2) {
        regs[reg::EBX] &= 0xffff; // small values for the 16-bit address
    }
    regs[reg::ESP] = rng.pick(&stacks);
    regs[reg::EBP] = rng.pick(&bases);
    // A return address on top of the stack, inside CS's limit or not.
    let any = rng.next();
    let ret = rng.pick(&[0x2000, 0xf_fffe, 0x10_0000, any]);
    let fill: Vec<u8> = (0..0x4000).map(|_| rng.next() as u8).collect();
    // Flags: explicit, or lazy from an operation on random values.
    let explicit = rng.next().is_multiple_of(3).then(|| rng.next());
    let op = flag_ops[rng.next() as usize % flag_ops.len()];
    let (v, src) = (rng.next(), rng.next());
    move || {
        let mut c = cpu();
        c.s.regs = regs;
        c.sys.write_bytes(0x4000, &fill[..0x2000]);
        c.sys.write_bytes(0x7_e000, &fill[0x2000..]);
        let sp = regs[reg::ESP];
        if sp <= DS_LIMIT - 3 {
            c.sys.write_bytes((SS_BASE + sp) as u64, &ret.to_le_bytes());
        }
        match explicit {
            Some(f) => c.s.set_arith(f),
            None => c.s.set_cc(op, Size::D, v, src, v & 1),
        }
        c.s.eip = AT;
        c
    }
}

/// Runs `i` (decoded from `bytes`) from the state `setup` makes, once through the general path
/// and once as `form`, and compares the outcomes; returns whether it faulted.
fn same_both_ways(bytes: &[u8], i: &Insn, form: Fast, setup: impl Fn() -> Cpu) -> bool {
    let (mut a, mut b) = (setup(), setup());
    let ra = a.exec_at(i, AT);
    b.s.eip = AT + i.len as u32;
    let rb = b.exec_fast(form, i);
    let (oa, ob) = (outcome(&mut a, ra), outcome(&mut b, rb));
    assert_eq!((&oa.0, oa.1, oa.2, oa.3), (&ob.0, ob.1, ob.2, ob.3), "{bytes:02x?} ({form:?})");
    assert!(oa.4 == ob.4, "{bytes:02x?} ({form:?}): memory differs");
    ra.is_err()
}

#[test]
fn every_form_does_what_the_general_path_does() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut ran, mut faulted) = (0, 0);
    for (bytes, form) in forms() {
        let i = decoded(bytes, true);
        let mut form_faulted = 0;
        for _ in 0..400 {
            let setup = random_state(&mut rng);
            form_faulted += same_both_ways(bytes, &i, form, setup) as u32;
            ran += 1;
        }
        faulted += form_faulted;
        // Each form that accesses memory, or jumps past CS's limit, faults from some of the states.
        let may_fault = (i.args.iter().any(|a| matches!(a, crate::decode::Arg::Mem(_)))
            && !matches!(form, Fast::Lea(_)))
            || matches!(form, Fast::Push(_) | Fast::Pop(_) | Fast::PushSrc(_) | Fast::Call(_) | Fast::Ret)
            || matches!(form, Fast::Jmp(r) | Fast::Jcc(_, r) if AT.wrapping_add(i.len as u32).wrapping_add(r) > CS_LIMIT);
        assert_eq!(form_faulted > 0, may_fault, "{bytes:02x?} ({form:?}): {form_faulted} faults");
    }
    assert!(ran > 10_000 && faulted > 1000, "{ran} runs, {faulted} faults");
}

/// Every instruction the decoder makes from a sweep of opcodes, ModRM bytes and prefixes that
/// `Fast::of` gives a fast form runs as the general path runs it: so a shape of operands the
/// list above does not name cannot get a wrong form unseen.
#[test]
fn every_decoded_shape_with_a_fast_form_does_what_the_general_path_does() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let modrms = [0xc0, 0xc1, 0xc3, 0xc4, 0xc7, 0xcc, 0xd8, 0xe0, 0xe4, 0xe7, 0xe8, 0xf8, 0xfc, 0x43, 0x4d, 0x04, 0x44];
    let prefixes: [&[u8]; 6] = [&[], &[0x26], &[0x64], &[0x67], &[0x66], &[0xf3]];
    let (mut shapes, mut ran) = (std::collections::HashSet::new(), 0);
    for prefix in prefixes {
        for two_byte in [false, true] {
            for op in 0..=255u8 {
                for modrm in modrms {
                    // ModRM, then SIB or displacement and immediate bytes.
                    let mut bytes = prefix.to_vec();
                    if two_byte {
                        bytes.push(0x0f);
                    }
                    bytes.extend([op, modrm, 0x8b, 0x04, 0x03, 0x00, 0x00, 0x00, 0x00]);
                    let Ok(i) = decode(true, |n| bytes.get(n).copied().ok_or(())) else { continue };
                    let form = Fast::of(&i, true);
                    if form == Fast::General {
                        continue;
                    }
                    shapes.insert(format!("{:?} {:?}", i.mnemonic, i.args));
                    for _ in 0..6 {
                        same_both_ways(&bytes[..i.len as usize], &i, form, random_state(&mut rng));
                        ran += 1;
                    }
                }
            }
        }
    }
    assert!(shapes.len() > 150 && ran > 5000, "{} shapes, {ran} runs", shapes.len());
}
