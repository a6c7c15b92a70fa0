"""codeprm.rl"""
