/* The vmlinux.h that BPF sources include: it selects the kernel release the
 * schedulers are compiled against. Regenerate with bpf/scripts/gen-vmlinux.sh,
 * which also rewrites this file. */
#include "7.3.4+deb13-cloud-amd64/vmlinux.h"
