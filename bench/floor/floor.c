/* The process-start floor for mppd's greeting: the least a program started
 * by systemd-socket-activate --accept can do, write one line to the
 * connection on fd 3, and exit. bench/run.sh compiles it with gcc -O2. */
#include <unistd.h>

int main(void)
{
	static const char greeting[] = "220 floor Message Posting Service Ready\r\n";

	return write(3, greeting, sizeof greeting - 1) < 0;
}
