package integration

import "encoding/binary"

// forwarderDLL returns a minimal 64-bit Windows DLL named dll whose only
// export, export, forwards to target ("module.Function"): no code, one
// section holding the export directory.
//
// Debian 12's Wine (8.0) has no bcryptprimitives.dll, whose ProcessPrng the
// Go runtime requires on Windows since Go 1.22 (Wine 9 added it): without
// it every Go program dies at start with "fatal error:
// bcryptprimitives.dll not found". ProcessPrng(buf, len) -> BOOL has the
// shape of advapi32's SystemFunction036 (RtlGenRandom), which Wine 8 has,
// so a forwarder to it is enough (the length is cut to 32 bits: buffers
// stay far below 4 GiB).
func forwarderDLL(dll, export, target string) []byte {
	const (
		fileAlign = 0x200  // where sections start in the file
		rva       = 0x1000 // where the one section is mapped
		dirSize   = 40     // IMAGE_EXPORT_DIRECTORY
	)
	le := binary.LittleEndian
	// The section: the export directory, its three one-entry tables, then
	// the strings. The function's address points at the forwarder string:
	// an address inside the export directory's range makes a forwarder.
	functions := rva + dirSize
	names := functions + 4
	ordinals := names + 4
	dllName := ordinals + 2
	exportName := dllName + len(dll) + 1
	targetName := exportName + len(export) + 1
	size := targetName + len(target) + 1 - rva

	var s []byte
	s = le.AppendUint32(s, 0) // Characteristics
	s = le.AppendUint32(s, 0) // TimeDateStamp
	s = le.AppendUint32(s, 0) // MajorVersion, MinorVersion
	s = le.AppendUint32(s, uint32(dllName))
	s = le.AppendUint32(s, 1) // Base (first ordinal)
	s = le.AppendUint32(s, 1) // NumberOfFunctions
	s = le.AppendUint32(s, 1) // NumberOfNames
	s = le.AppendUint32(s, uint32(functions))
	s = le.AppendUint32(s, uint32(names))
	s = le.AppendUint32(s, uint32(ordinals))
	s = le.AppendUint32(s, uint32(targetName)) // the function: a forwarder
	s = le.AppendUint32(s, uint32(exportName))
	s = le.AppendUint16(s, 0) // its ordinal, less Base
	s = append(s, dll+"\x00"+export+"\x00"+target+"\x00"...)
	raw := (size + fileAlign - 1) &^ (fileAlign - 1)

	// MS-DOS stub header, pointing at the PE header right after it.
	h := append([]byte("MZ"), make([]byte, 0x3a)...)
	h = le.AppendUint32(h, 0x40)
	h = append(h, "PE\x00\x00"...)
	// COFF file header.
	h = le.AppendUint16(h, 0x8664) // AMD64
	h = le.AppendUint16(h, 1)      // one section
	h = le.AppendUint32(h, 0)      // TimeDateStamp: reproducible
	h = le.AppendUint32(h, 0)      // no symbol table
	h = le.AppendUint32(h, 0)
	h = le.AppendUint16(h, 240)    // the PE32+ optional header's size
	h = le.AppendUint16(h, 0x2022) // executable image, large-address aware, DLL
	// PE32+ optional header.
	h = le.AppendUint16(h, 0x20b)
	h = append(h, 14, 0)                // linker version
	h = le.AppendUint32(h, 0)           // SizeOfCode
	h = le.AppendUint32(h, uint32(raw)) // SizeOfInitializedData
	h = le.AppendUint32(h, 0)           // SizeOfUninitializedData
	h = le.AppendUint32(h, 0)           // AddressOfEntryPoint: none
	h = le.AppendUint32(h, 0)           // BaseOfCode
	h = le.AppendUint64(h, 0x180000000) // ImageBase
	h = le.AppendUint32(h, 0x1000)      // SectionAlignment
	h = le.AppendUint32(h, fileAlign)   // FileAlignment
	h = le.AppendUint32(h, 6)           // operating system version 6.0
	h = le.AppendUint32(h, 0)           // image version
	h = le.AppendUint32(h, 6)           // subsystem version 6.0
	h = le.AppendUint32(h, 0)           // Win32VersionValue
	h = le.AppendUint32(h, rva+0x1000)  // SizeOfImage: headers and the section
	h = le.AppendUint32(h, fileAlign)   // SizeOfHeaders
	h = le.AppendUint32(h, 0)           // CheckSum
	h = le.AppendUint16(h, 3)           // Subsystem: console
	h = le.AppendUint16(h, 0x100)       // DllCharacteristics: NX compatible
	h = le.AppendUint64(h, 0x100000)    // stack reserve
	h = le.AppendUint64(h, 0x1000)      // stack commit
	h = le.AppendUint64(h, 0x100000)    // heap reserve
	h = le.AppendUint64(h, 0x1000)      // heap commit
	h = le.AppendUint32(h, 0)           // LoaderFlags
	h = le.AppendUint32(h, 16)          // data directories
	h = le.AppendUint32(h, rva)         // 0: the export directory
	h = le.AppendUint32(h, uint32(size))
	h = append(h, make([]byte, 15*8)...)
	// The section header.
	h = append(h, ".edata\x00\x00"...)
	h = le.AppendUint32(h, uint32(size)) // VirtualSize
	h = le.AppendUint32(h, rva)
	h = le.AppendUint32(h, uint32(raw)) // SizeOfRawData
	h = le.AppendUint32(h, fileAlign)   // PointerToRawData
	h = append(h, make([]byte, 12)...)  // no relocations or line numbers
	h = le.AppendUint32(h, 0x40000040)  // initialized data, readable
	h = append(h, make([]byte, fileAlign-len(h))...)

	return append(append(h, s...), make([]byte, raw-size)...)
}
